/**
 * The command table: each command's options, help text and implementation. To add a
 * command, declare it with `defineCommand` and add it to `commands`; `main` gives it
 * `--help`, flag checking and exit code 2 on a usage error.
 */
import { dirname, resolve } from 'node:path';
import { createGate } from '../gate.js';
import { decodeJwt } from '../token/jwt.js';
import { explain } from '../policy/decision.js';
import type { Decision } from '../policy/types.js';
import type { Identity } from '../types.js';
import { defineCommand, type CliIo, type Command, type OptionValues } from './args.js';
import { CliError, checkConfig, compileConfig, readJson, toContext, toIdentity, type CliConfig } from './config-file.js';
import { runDoctor } from './doctor.js';
import { review } from './review.js';

const configOption = { type: 'string', short: 'c', value: '<file>', description: 'the configuration file (entragate.json)' } as const;

const check = defineCommand({
  name: 'check',
  summary: 'validate the IdP config, policies, rule groups and gateway rules',
  synopsis: ['--config entragate.json'],
  description: 'Validates the IdP config, every policy, rule group and gateway rule, and prints every problem with its location.',
  options: { config: configOption },
  failure: 'the configuration has problems',
  run: (values, _positionals, io) => runCheck(values, io),
});

const evalOptions = {
  config: configOption,
  identity: { type: 'string', value: '<file>', description: 'the identity to decide for (JSON: email, groups, membership, …)' },
  token: { type: 'string', value: '<jwt>', description: 'verify this token and decide for its identity instead' },
  jwks: { type: 'string', value: '<file>', description: 'with --token: the signing keys from a JWKS file' },
  'authority-host': { type: 'string', value: '<url>', description: 'with --token: the authority host (the mock, or a national cloud)' },
  context: { type: 'string', value: '<file>', description: 'the request context (JSON: ip, country, request { method, host, url }, …)' },
  application: { type: 'string', value: '<name>', description: 'the application whose policies decide (default: the only one)' },
  gateway: { type: 'boolean', description: 'decide with the gateway rules instead of an application' },
  json: { type: 'boolean', description: 'print the decision and its trace as JSON' },
} as const;

const evaluate = defineCommand({
  name: 'eval',
  summary: 'decide one request and print the decision and its trace',
  synopsis: [
    '--config entragate.json (--identity identity.json | --token <jwt> [--jwks jwks.json | --authority-host <url>])',
    '[--context context.json] [--application <name> | --gateway] [--json]',
  ],
  description: 'Decides one request for an identity (or a verified token) and prints the decision and its trace.',
  options: evalOptions,
  failure: 'the token was refused',
  run: (values, _positionals, io) => runEval(values, io),
});

const test = defineCommand({
  name: 'test',
  summary: 'run a policy test file; exit 1 on any failure',
  synopsis: ['<cases.json> [--config entragate.json]'],
  description: 'Runs a policy test file: each case names an identity, a context and the expected decision. A failing case prints a diff and the trace.',
  options: { config: { ...configOption, description: "the configuration (default: the test file's `config`)" } },
  positionals: { names: 'one test file (`<cases.json>`)', min: 1, max: 1 },
  failure: 'a case failed',
  run: (values, positionals, io) => runTest(values, positionals[0]!, io),
});

const doctorOptions = {
  config: configOption,
  'authority-host': { type: 'string', value: '<url>', description: 'the authority host (the mock, or a national cloud)' },
  'graph-host': { type: 'string', value: '<url>', description: 'the Microsoft Graph host' },
  'scim-url': { type: 'string', value: '<url>', description: 'check the SCIM endpoint at this URL' },
  'scim-secret': { type: 'string', value: '<secret>', description: 'the SCIM secret (or set ENTRAGATE_SCIM_SECRET, which keeps it off the command line)' },
  'graph-user': {
    type: 'string',
    value: '<id>',
    description: 'a user object id to ask Graph about (default: a random id, which answers 404 when the permission is there)',
  },
  timeout: { type: 'string', value: '<ms>', default: '10000', description: 'the timeout of each request, in milliseconds' },
} as const;

const doctor = defineCommand({
  name: 'doctor',
  summary: 'check discovery, JWKS, the client secret, Graph permissions and SCIM',
  synopsis: [
    '--config entragate.json [--authority-host <url>] [--graph-host <url>]',
    '[--scim-url <url> [--scim-secret <secret>]] [--graph-user <id>] [--timeout <ms>]',
  ],
  description:
    'Checks discovery and JWKS for the tenant, the client secret, the Graph permission and the SCIM endpoint. Each check passes, is skipped, or says what to fix.',
  options: doctorOptions,
  failure: 'a check failed',
  run: (values, _positionals, io) => runDoctorCommand(values, io),
});

/** Every command, in the order the overview lists them. */
export const commands: readonly Command[] = [check, evaluate, test, review, doctor];

function loadConfig(path: string | undefined, required = true): { config: CliConfig; file: string } {
  if (path === undefined) {
    if (required) throw new CliError('`--config <file>` is required');
    return { config: {}, file: '' };
  }
  return { config: readJson(path) as CliConfig, file: path };
}

function runCheck(values: { config: string | undefined }, io: CliIo): number {
  const { config, file } = loadConfig(values.config);
  const problems = checkConfig(config, file);
  if (problems.length === 0) {
    const apps = Object.keys(config.applications ?? {});
    io.stdout(
      `${file}: ok (${apps.length} application${apps.length === 1 ? '' : 's'}, ${config.ruleGroups?.length ?? 0} rule groups, ${config.gateway?.rules.length ?? 0} gateway rules${config.idp ? ', idp' : ''})\n`,
    );
    return 0;
  }
  for (const p of problems) io.stdout(`${p.location}: ${p.message}\n`);
  io.stdout(`${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  return 1;
}

function validConfig(path: string | undefined): CliConfig {
  const { config, file } = loadConfig(path);
  const problems = checkConfig(config, file);
  if (problems.length > 0)
    throw new CliError(
      `the configuration has problems; run \`entragate check --config ${file}\`:\n  ${problems.map((p) => `${p.location}: ${p.message}`).join('\n  ')}`,
    );
  return config;
}

async function runEval(values: OptionValues<typeof evalOptions>, io: CliIo): Promise<number> {
  const config = validConfig(values.config);
  const compiled = compileConfig(config);
  const context = values.context === undefined ? {} : toContext(readJson(values.context), values.context);
  let identity: Identity | null;
  if (values.token !== undefined) identity = await identityFromToken(values.token, config, values.jwks, values['authority-host']);
  else if (values.identity !== undefined) identity = toIdentity(readJson(values.identity), values.identity);
  else identity = null;
  const decision: Decision = values.gateway
    ? compiled.gateway().evaluate(identity, context)
    : compiled.application(values.application).evaluate(identity, context);
  if (values.json)
    io.stdout(
      `${JSON.stringify({ allowed: decision.allowed, action: decision.action, reason: decision.reason, policy: decision.policy ?? null, trace: decision.trace }, null, 2)}\n`,
    );
  else io.stdout(`${explain(decision)}\n`);
  return 0;
}

/**
 * Verifies a token: against a JWKS file (served to the gate in memory, with the
 * token's own issuer as the discovery issuer) or an authority host (the mock).
 */
async function identityFromToken(token: string, config: CliConfig, jwksPath: string | undefined, authorityHost: string | undefined): Promise<Identity> {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token).payload;
  } catch (error) {
    throw new CliError(`the token does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
  const aud = typeof payload.aud === 'string' ? payload.aud : undefined;
  const tid = typeof payload.tid === 'string' ? payload.tid : undefined;
  const idp = config.idp ?? (aud && tid ? { type: 'azureAD', name: 'cli', config: { client_id: aud.replace(/^api:\/\//, ''), directory_id: tid } } : undefined);
  if (idp === undefined) throw new CliError('an `idp` in the configuration (or a token with `aud` and `tid`) is needed to verify a token');
  const options: Parameters<typeof createGate>[0] = {
    idp: idp as Parameters<typeof createGate>[0]['idp'],
    ...(aud ? { audiences: [aud] } : {}),
    tokenCache: false,
  };
  if (jwksPath !== undefined) {
    const jwks = readJson(jwksPath);
    const issuer = String(payload.iss ?? '');
    options.authorityHost = 'https://jwks.invalid';
    options.fetch = async (input) => {
      const url = String(input instanceof Request ? input.url : input);
      const body = url.includes('openid-configuration') ? { issuer, jwks_uri: 'https://jwks.invalid/keys' } : jwks;
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
  } else if (authorityHost !== undefined) {
    options.authorityHost = authorityHost;
  }
  return createGate(options).verify(token);
}

interface TestCase {
  name?: string;
  identity?: unknown;
  context?: unknown;
  application?: string;
  gateway?: boolean;
  expect?: { allowed?: boolean; action?: string; policy?: string | null; reason?: string };
}

function runTest(values: { config: string | undefined }, path: string, io: CliIo): number {
  const file = readJson(path) as { config?: string | CliConfig; application?: string; gateway?: boolean; cases?: TestCase[] };
  if (typeof file !== 'object' || file === null || !Array.isArray(file.cases)) throw new CliError(`\`${path}\` must be an object with a \`cases\` array`);
  let config: CliConfig;
  if (values.config !== undefined) config = validConfig(values.config);
  else if (typeof file.config === 'string') config = validConfig(resolve(dirname(path), file.config));
  else if (typeof file.config === 'object' && file.config !== null) {
    const problems = checkConfig(file.config, `${path}: config`);
    if (problems.length > 0) throw new CliError(problems.map((p) => `${p.location}: ${p.message}`).join('\n'));
    config = file.config;
  } else throw new CliError(`\`${path}\` has no \`config\` (a path or an object), and no \`--config\` was given`);
  const compiled = compileConfig(config);
  const total = file.cases.length;
  const progress = io.isTTY && total >= 50;
  let failed = 0;
  const out: string[] = [];
  file.cases.forEach((c, i) => {
    const name = c.name ?? `case ${i + 1}`;
    const where = `${path}: cases[${i}]`;
    if (c.expect === undefined || typeof c.expect !== 'object') throw new CliError(`${where}: \`expect\` is required ({ allowed, action, policy, reason })`);
    const identity = toIdentity(c.identity, `${where}.identity`);
    const context = toContext(c.context, `${where}.context`);
    const gateway = c.gateway ?? (c.application === undefined ? file.gateway : false) ?? false;
    const decision = gateway
      ? compiled.gateway().evaluate(identity, context)
      : compiled.application(c.application ?? file.application).evaluate(identity, context);
    const diffs = compare(c.expect, decision);
    if (diffs.length === 0) out.push(`  ✓ ${name}\n`);
    else {
      failed++;
      out.push(`  ✗ ${name}\n`);
      for (const d of diffs) out.push(`      ${d}\n`);
      out.push(`${explain(decision).replace(/^/gm, '      | ')}\n`);
    }
    if (progress && (i % 25 === 0 || i === total - 1)) io.stderr(`\r${i + 1}/${total} cases`);
  });
  if (progress) io.stderr('\r\x1b[K');
  io.stdout(out.join(''));
  io.stdout(failed === 0 ? `${total} passed\n` : `${failed} failed, ${total - failed} passed\n`);
  return failed === 0 ? 0 : 1;
}

function compare(expected: NonNullable<TestCase['expect']>, decision: Decision): string[] {
  const diffs: string[] = [];
  const line = (field: string, want: unknown, got: unknown) => diffs.push(`${field}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  if (expected.allowed !== undefined && expected.allowed !== decision.allowed) line('allowed', expected.allowed, decision.allowed);
  if (expected.action !== undefined && expected.action !== decision.action) line('action', expected.action, decision.action);
  if (expected.reason !== undefined && expected.reason !== decision.reason) line('reason', expected.reason, decision.reason);
  if (expected.policy !== undefined && expected.policy !== (decision.policy?.name ?? null)) line('policy', expected.policy, decision.policy?.name ?? null);
  return diffs;
}

async function runDoctorCommand(values: OptionValues<typeof doctorOptions>, io: CliIo): Promise<number> {
  const { config } = loadConfig(values.config);
  const timeoutMs = Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new CliError(`\`--timeout\` must be a whole number of milliseconds, not \`${values.timeout}\``);
  // The environment keeps the secret out of the process list and the shell history.
  const scimSecret = values['scim-secret'] ?? process.env.ENTRAGATE_SCIM_SECRET;
  const results = await runDoctor({
    idp: config.idp,
    ...(values['authority-host'] === undefined ? {} : { authorityHost: values['authority-host'] }),
    ...(values['graph-host'] === undefined ? {} : { graphHost: values['graph-host'] }),
    ...(values['scim-url'] === undefined ? {} : { scimUrl: values['scim-url'] }),
    ...(scimSecret === undefined || scimSecret === '' ? {} : { scimSecret }),
    ...(values['graph-user'] === undefined ? {} : { graphUser: values['graph-user'] }),
    timeoutMs,
    onCheck: (r) => io.stdout(`${r.status === 'pass' ? '✓' : r.status === 'skip' ? '-' : '✗'} ${r.name}: ${r.detail}\n`),
  });
  const failed = results.filter((r) => r.status === 'fail').length;
  io.stdout(failed === 0 ? 'all checks passed\n' : `${failed} check${failed === 1 ? '' : 's'} failed\n`);
  return failed === 0 ? 0 : 1;
}
