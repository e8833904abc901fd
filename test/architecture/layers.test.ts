/**
 * The rooms of `src/` and the direction of their doors (issue 15). Every import in `src/**\/*.ts` — static
 * `import`/`export … from`, `import type`, `import()` calls and `import('…')` types — must point to a room of a
 * strictly lower rank, or stay in its own room. Rooms of the same rank do not import each other.
 *
 * ```
 * rank  room          holds                                               may import (lower ranks)
 *  10   adapters      express / koa / fastify, credentials, outcome       everything below
 *   9   scim          the SCIM 2.0 service provider                       store, gate, …
 *   9   review        access reviews over the directory (entragate/review) store, gate, …
 *   8   login         OIDC login with PKCE, sessions                      gate, session, http, token, …
 *   8   store         the SQL directory + revocation store                session, directory, …
 *   8   graph         the Microsoft Graph group source (reads the gate)   gate, groups, credentials, …
 *   7   gate          createGate: composes token, groups, policy          cloudflare, groups, token, policy, …
 *   6   cloudflare    Access assertions, service tokens, identity source  groups, token, …
 *   5   groups        group sources, nested resolution                    token, directory, config, …
 *   4   token         Entra token verification, identity                  config, diagnostics, …
 *   4   session       revocation lists, session identity store (neutral)  errors, types
 *   4   http          cookies, request helpers (neutral)                  errors, types
 *   4   credentials   client credentials (secret, certificate)            errors
 *   3   config        zod option schemas, validators, IdP config          errors, pure core
 *   3   diagnostics   node:diagnostics_channel publishers                 errors, types
 *   2   policy        the pure Access / Gateway evaluator                 base, errors, types
 *   2   directory     the pure directory index                            base, errors, types
 *   1   base          config/duration.ts, config/clouds.ts: pure helpers  errors, types
 *   0   errors        coded errors                                        —
 *   0   types         src/types.ts: shared framework-free types           —
 *   –   leaves        testing/, cli/, src/index.ts: may import anything; nothing in src imports them
 * ```
 *
 * The issue sketched `adapters → login/store/scim/cloudflare → gate`; the code puts `cloudflare` below the gate
 * (the gate verifies Cloudflare Access assertions itself) and `graph` above it (a Graph source is built from the
 * gate's configuration), so the table says so.
 *
 * Besides the ranks: the pure core (`policy/`, `directory/`) imports neither `zod` nor `node:` (nor any package
 * other than `re2js`), and the adapters load no login module at run time (`import type` only), so an app without
 * a login never loads it.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sourceFiles as sources } from './source-files.js';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

const RANKS: Readonly<Record<string, number>> = {
  adapters: 10,
  review: 9,
  scim: 9,
  login: 8,
  store: 8,
  graph: 8,
  gate: 7,
  cloudflare: 6,
  groups: 5,
  token: 4,
  session: 4,
  http: 4,
  credentials: 4,
  config: 3,
  diagnostics: 3,
  policy: 2,
  directory: 2,
  base: 1,
  errors: 0,
  types: 0,
};
const LEAVES = new Set(['testing', 'cli', 'index']);
const PURE = new Set(['policy', 'directory']);
const PURE_PACKAGES = new Set(['re2js']);

/** The room of a path relative to `src/` (posix separators, with its extension). */
function roomOf(path: string): string {
  if (path === 'config/duration.ts' || path === 'config/clouds.ts') return 'base';
  const [first] = path.split('/');
  return first!.replace(/\.(ts|js)$/, '');
}

interface Edge {
  readonly from: string;
  readonly specifier: string;
  readonly target: string | undefined;
  readonly typeOnly: boolean;
  readonly line: number;
}

/** Every import of a source file: static, `export … from`, `import type`, `import()` calls and import types. */
function importsOf(file: string, text: string): Edge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const from = relative('src', file).split(sep).join('/');
  const edges: Edge[] = [];
  const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean): void => {
    if (literal === undefined || !ts.isStringLiteralLike(literal)) return;
    const specifier = literal.text;
    const target = specifier.startsWith('.') ? posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts') : undefined;
    edges.push({ from, specifier, target, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** The edges that break the table, as `from:line → specifier (why)`. */
function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const edge of edges) {
    const fromRoom = roomOf(edge.from);
    const where = `${edge.from}:${edge.line} → ${edge.specifier}`;
    if (edge.target === undefined) {
      const bare = edge.specifier.startsWith('node:') ? 'node:' : edge.specifier.split('/')[0]!;
      if (PURE.has(fromRoom) && (bare === 'node:' || !PURE_PACKAGES.has(bare))) out.push(`${where} (the pure core imports no \`${bare}\`)`);
      continue;
    }
    const toRoom = roomOf(edge.target);
    if (fromRoom === toRoom || LEAVES.has(fromRoom)) continue;
    if (LEAVES.has(toRoom)) {
      out.push(`${where} (${toRoom} is a leaf: nothing in src imports it)`);
      continue;
    }
    const a = RANKS[fromRoom];
    const b = RANKS[toRoom];
    if (a === undefined || b === undefined) {
      out.push(`${where} (room \`${a === undefined ? fromRoom : toRoom}\` is not in the table)`);
      continue;
    }
    if (b >= a) out.push(`${where} (${fromRoom} at rank ${a} imports ${toRoom} at rank ${b})`);
    if (fromRoom === 'adapters' && toRoom === 'login' && !edge.typeOnly) {
      out.push(`${where} (the adapters load no login module at run time: \`import type\` only)`);
    }
  }
  return out;
}

const edges = sources('src').flatMap((file) => importsOf(file, readFileSync(file, 'utf8')));

describe('layering', () => {
  it('reads every kind of import (positive control for the scanner)', () => {
    const found = importsOf(
      join('src', 'gate', 'x.ts'),
      [
        "import a from '../login/a.js';",
        "import type { B } from '../store/b.js';",
        "import { type C } from '../scim/c.js';",
        "export { d } from './d.js';",
        "export * from '../adapters/e.js';",
        "const f = await import('../cli/f.js');",
        "type G = import('../graph/g.js').G;",
        "// import h from '../login/h.js';",
        "/** import i from 'zod'; */",
      ].join('\n'),
    );
    expect(found.map((e) => [e.target, e.typeOnly])).toEqual([
      ['login/a.ts', false],
      ['store/b.ts', true],
      ['scim/c.ts', true],
      ['gate/d.ts', false],
      ['adapters/e.ts', false],
      ['cli/f.ts', false],
      ['graph/g.ts', true],
    ]);
    expect(violations(found)).toHaveLength(6);
  });

  it('flags an upward import, a stray package in the pure core and a runtime login import in an adapter', () => {
    const fake = (from: string, specifier: string, typeOnly = false): Edge[] =>
      importsOf(join('src', ...from.split('/')), `import ${typeOnly ? 'type ' : ''}{ x } from '${specifier}';`);
    expect(violations(fake('policy/p.ts', 'zod'))).toHaveLength(1);
    expect(violations(fake('directory/d.ts', 'node:crypto'))).toHaveLength(1);
    expect(violations(fake('policy/p.ts', 're2js'))).toEqual([]);
    expect(violations(fake('policy/p.ts', '../config/parse.js'))).toHaveLength(1);
    expect(violations(fake('policy/p.ts', '../config/duration.js'))).toEqual([]);
    expect(violations(fake('store/s.ts', '../login/identity-store.js', true))).toHaveLength(1);
    expect(violations(fake('adapters/a.ts', '../login/cookies.js'))).toHaveLength(1);
    expect(violations(fake('adapters/a.ts', '../login/login.js', true))).toEqual([]);
    expect(violations(fake('gate.ts', './token/verifier.js'))).toEqual([]);
    expect(violations(fake('gate/x.ts', '../gate.js'))).toEqual([]);
  });

  it('sees the whole source tree', () => {
    const rooms = new Set(edges.map((e) => roomOf(e.from)));
    for (const room of ['adapters', 'gate', 'login', 'store', 'policy', 'directory', 'session', 'http']) expect(rooms).toContain(room);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('no import points from a lower room to a higher one, the pure core stays pure', () => {
    expect(violations(edges)).toEqual([]);
  });
});
