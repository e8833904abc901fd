/**
 * What an editor shows on hover comes from the published `.d.ts`: every property of each option
 * interface must carry its doc comment there, and every optional one its `@defaultValue`. The
 * declarations are built once, with the package's own tsup configuration, into a temporary folder
 * (not `dist`, which the package test rebuilds at the same time), then read with the TypeScript
 * compiler API.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Options } from 'tsup';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';

/** Entry (the `.d.ts` file name) → the option interfaces it exports. */
const OPTIONS: Record<string, string[]> = {
  index: [
    'GateOptions',
    'JwksOptions',
    'TokenCacheOptions',
    'GateApplicationOptions',
    'GatewayOptions',
    'ReportOnlyOptions',
    'CloudflareAccessOptions',
    'IdpConfigInput',
    'AzureAdConfigInput',
    'ScimConfigInput',
    'IdpConfig',
    'AzureAdConfig',
    'ScimConfig',
    'DirectoryGroupSourceOptions',
    'TokenGroupSourceOptions',
  ],
  testing: ['MockGraphOptions', 'MockEntraOptions', 'MockCloudflareOptions'],
  store: ['PgliteStoreOptions', 'PostgresStoreOptions', 'StoreRetentionOptions', 'StoreIdentityOptions'],
  scim: ['ScimHandlerOptions'],
  express: ['ProtectOptions', 'ProtectRoutingOptions', 'ServiceTokenCredential', 'LoginRoutesOptions', 'ScimEndpointOptions', 'IdentityEndpointOptions'],
  koa: ['ProtectOptions'],
  fastify: ['ProtectOptions'],
  graph: ['GraphGroupSourceOptions', 'GraphGateConfig', 'GraphCacheOptions'],
  login: [
    'LoginOptions',
    'LoginKeysOptions',
    'LoginSigningKey',
    'LoginVerificationKey',
    'LoginCookieOptions',
    'LoginSessionCacheOptions',
    'EntraLogoutOptions',
  ],
};

let out: string;
let program: ts.Program;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'entragate-dts-'));
  const base = config as Options;
  await build({ ...base, config: false, outDir: out, clean: false, dts: { only: true }, onSuccess: undefined, silent: true });
  const files = readdirSync(out)
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => join(out, f));
  program = ts.createProgram(files, { noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
  // The .d.ts build of every entry took 230 s on the shared 2-core machine and timed out at 240 s under heavier load.
}, 600_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** The exported interface `name` of the built entry, resolved through re-exports. */
function exported(entry: string, name: string): ts.Type {
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(join(out, `${entry}.d.ts`));
  if (!file) throw new Error(`no ${entry}.d.ts was built`);
  const moduleSymbol = checker.getSymbolAtLocation(file);
  if (!moduleSymbol) throw new Error(`${entry}.d.ts is not a module`);
  const symbol = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === name);
  if (!symbol) throw new Error(`${entry}.d.ts does not export ${name}`);
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  return checker.getDeclaredTypeOfSymbol(target);
}

/** Each property's problems: no doc comment, or optional without `@defaultValue`. */
function problems(type: ts.Type): string[] {
  const checker = program.getTypeChecker();
  const found: string[] = [];
  for (const property of checker.getPropertiesOfType(type)) {
    const doc = ts.displayPartsToString(property.getDocumentationComment(checker)).trim();
    if (doc.length < 10) found.push(`${property.name}: no doc comment`);
    const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
    if (optional && !property.getJsDocTags(checker).some((tag) => tag.name === 'defaultValue')) found.push(`${property.name}: optional without @defaultValue`);
  }
  return found;
}

describe('option documentation in the published .d.ts', () => {
  for (const [entry, names] of Object.entries(OPTIONS)) {
    for (const name of names) {
      it(`${entry}: ${name}`, () => {
        const type = exported(entry, name);
        expect(program.getTypeChecker().getPropertiesOfType(type).length).toBeGreaterThan(0);
        expect(problems(type)).toEqual([]);
      });
    }
  }

  it('the check catches an undocumented property (control)', () => {
    const fakeFile = join(out, 'fake-options.d.ts');
    writeFileSync(fakeFile, 'export interface Fake {\n  /** Documented, with a default. @defaultValue `1` */\n  a?: number;\n  b?: string;\n}\n');
    const saved = program;
    program = ts.createProgram([fakeFile], { noEmit: true });
    try {
      expect(problems(exported('fake-options', 'Fake'))).toEqual(['b: no doc comment', 'b: optional without @defaultValue']);
    } finally {
      program = saved;
    }
  });

  it('the zod schemas are not exported', () => {
    const checker = program.getTypeChecker();
    for (const entry of ['index', 'login', 'express', 'koa', 'fastify', 'scim', 'store', 'graph']) {
      const file = program.getSourceFile(join(out, `${entry}.d.ts`))!;
      const names = checker.getExportsOfModule(checker.getSymbolAtLocation(file)!).map((s) => s.name);
      expect(names.filter((n) => /Schema$/.test(n) && !/^(USER|GROUP|ENTERPRISE)_SCHEMA$/.test(n))).toEqual([]);
      expect(names.length).toBeGreaterThan(0);
    }
  });
});
