/**
 * Lists every public export without a doc comment, and every member of an exported
 * interface, class or object type without one: what an editor's hover would show
 * empty. The public API is what `package.json#exports` publishes, mapped to `src/`
 * through the tsup entries. Exits 1 when anything is undocumented (0 when all is),
 * so CI can gate on it; the TypeDoc equivalent is `validation.notDocumented`.
 *
 *   npx tsx scripts/check-docs.ts            # the report, grouped by file
 *   npx tsx scripts/check-docs.ts --json     # the same as JSON
 *   npx tsx scripts/check-docs.ts --exports  # exports only, not their members
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import ts from 'typescript';
import config from '../tsup.config.js';

interface Missing {
  /** The subpaths that publish it (`entragate`, `entragate/login`). */
  subpaths: string[];
  /** `createGate`, `GateOptions.audiences`. */
  name: string;
  kind: string;
  file: string;
  line: number;
}

const root = resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const manifest = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
const entries = (config as { entry: Record<string, string> }).entry;

/** `./login` → `src/login/index.ts`, through the tsup entry of the same output name. */
const publicEntries = Object.entries(manifest.exports).flatMap(([subpath, target]) => {
  if (typeof target !== 'object' || target === null) return [];
  const out = String((target as { default: string }).default)
    .replace(/^\.\/dist\//, '')
    .replace(/\.js$/, '');
  const source = entries[out];
  if (source === undefined) throw new Error(`package.json exports \`${subpath}\` but tsup builds no entry \`${out}\``);
  return [{ subpath: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`, file: resolve(root, source) }];
});

const tsconfig = ts.getParsedCommandLineOfConfigFile(resolve(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
if (tsconfig === undefined) throw new Error('cannot read tsconfig.json');
const program = ts.createProgram(
  publicEntries.map((e) => e.file),
  tsconfig.options,
);
const checker = program.getTypeChecker();

function documented(symbol: ts.Symbol): boolean {
  return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
}

function kindOf(declaration: ts.Declaration): string {
  return ts.SyntaxKind[declaration.kind].replace(/Declaration$|Signature$|Statement$/, '').replace(/^./, (c) => c.toLowerCase());
}

const found = new Map<string, Missing>();
function report(subpath: string, name: string, declaration: ts.Declaration): void {
  const source = declaration.getSourceFile();
  const file = relative(root, source.fileName);
  const line = source.getLineAndCharacterOfPosition(declaration.getStart()).line + 1;
  const key = `${file}:${line}:${name}`;
  const known = found.get(key);
  if (known) {
    if (!known.subpaths.includes(subpath)) known.subpaths.push(subpath);
    return;
  }
  found.set(key, { subpaths: [subpath], name, kind: kindOf(declaration), file, line });
}

/** The members a reader hovers: own, named, not private, no constructors. */
function membersOf(declaration: ts.Declaration): readonly ts.Declaration[] {
  let members: ts.NodeArray<ts.ClassElement | ts.TypeElement> | undefined;
  if (ts.isInterfaceDeclaration(declaration) || ts.isClassDeclaration(declaration)) members = declaration.members;
  else if (ts.isTypeAliasDeclaration(declaration) && ts.isTypeLiteralNode(declaration.type)) members = declaration.type.members;
  if (members === undefined) return [];
  return members.filter((m) => {
    if (m.name === undefined || ts.isConstructorDeclaration(m) || ts.isIndexSignatureDeclaration(m)) return false;
    if (ts.isPrivateIdentifier(m.name)) return false;
    const flags = ts.getCombinedModifierFlags(m as ts.Declaration);
    return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
  });
}

/** A member whose class or interface extends one that documents it (`message` of an Error subclass) counts as documented. */
function inheritedDoc(owner: ts.Declaration, member: ts.Declaration): boolean {
  if (!ts.isClassDeclaration(owner) && !ts.isInterfaceDeclaration(owner)) return false;
  const name = ts.getNameOfDeclaration(member);
  if (name === undefined) return false;
  const type = checker.getTypeAtLocation(owner);
  for (const base of type.getBaseTypes?.() ?? []) {
    const property = base.getProperty(name.getText());
    if (property && documented(property)) return true;
  }
  return false;
}

for (const { subpath, file } of publicEntries) {
  const source = program.getSourceFile(file);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`cannot read the exports of \`${relative(root, file)}\``);
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = symbol.getDeclarations() ?? [];
    if (declarations.length === 0) continue;
    if (!documented(symbol)) report(subpath, exported.getName(), declarations[0]!);
    if (args.has('--exports')) continue;
    for (const declaration of declarations) {
      for (const member of membersOf(declaration)) {
        const memberSymbol = checker.getSymbolAtLocation(ts.getNameOfDeclaration(member)!);
        if (memberSymbol === undefined || documented(memberSymbol) || inheritedDoc(declaration, member)) continue;
        report(subpath, `${exported.getName()}.${memberSymbol.getName()}`, member);
      }
    }
  }
}

const missing = [...found.values()].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
if (args.has('--json')) {
  process.stdout.write(`${JSON.stringify(missing, null, 2)}\n`);
} else {
  let file = '';
  for (const m of missing) {
    if (m.file !== file) process.stdout.write(`${(file = m.file)}\n`);
    process.stdout.write(`  ${String(m.line).padStart(4)}  ${m.kind.padEnd(18)} ${m.name}  (${m.subpaths.join(', ')})\n`);
  }
  const exportsOnly = missing.filter((m) => !m.name.includes('.')).length;
  process.stdout.write(
    missing.length === 0
      ? `every export of ${publicEntries.length} subpaths is documented\n`
      : `${missing.length} undocumented: ${exportsOnly} exports, ${missing.length - exportsOnly} members, in ${new Set(missing.map((m) => m.file)).size} files\n`,
  );
}
process.exitCode = missing.length === 0 ? 0 : 1;
