/**
 * `entragate review`: an access review of the SCIM directory against the configuration's policies, and the
 * difference a candidate policy set would make (a guard for policy pull requests, beside `test`).
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createGate, type GateOptions } from '../gate.js';
import { createDirectoryGroupSource } from '../groups/directory-source.js';
import { renderReview, REVIEW_FORMATS, type ReviewFormat } from '../review/render.js';
import { reviewAccess, type ReviewCandidate } from '../review/review.js';
import type { DirectoryStore } from '../store/types.js';
import { defineCommand, type CliIo, type OptionValues } from './args.js';
import { CliError, checkConfig, isObject, readJson, type CliConfig } from './config-file.js';

const reviewOptions = {
  config: { type: 'string', short: 'c', value: '<file>', description: 'the configuration file (entragate.json), with its `idp`' },
  store: { type: 'string', short: 's', value: '<dir | url>', description: 'the directory store: a PGlite folder, or a postgres:// URL' },
  application: { type: 'string', value: '<name>', description: 'review this application (default: every application of the configuration)' },
  gateway: { type: 'boolean', description: 'review the Gateway rules too' },
  candidate: {
    type: 'string',
    value: '<file>',
    description: 'a candidate policy set (JSON: applications, gateway, ruleGroups, lists): the difference per user',
  },
  format: { type: 'string', short: 'f', value: '<format>', default: 'table', description: `the output: ${REVIEW_FORMATS.join(', ')}` },
  out: { type: 'string', short: 'o', value: '<file>', description: 'write the report to this file instead of stdout' },
  'allow-gains': { type: 'boolean', description: 'with --candidate: exit 0 even when the candidate grants access the current set denies' },
} as const;

/** The `review` command of the table in `commands.ts`. */
export const review = defineCommand({
  name: 'review',
  summary: 'access review of the directory; with --candidate, what a policy change grants or removes',
  synopsis: [
    '--config entragate.json --store <pglite dir | postgres url> [--application <name>] [--gateway]',
    '[--candidate new.json [--allow-gains]] [--format table|json|csv|html] [--out <file>]',
  ],
  description:
    "For every user of the SCIM directory (active and inactive), the decision the policies give on the user's directory identity: allowed, denied, or conditional (it depends on the request: ip, geo, certificate, device posture), and the deciding policy. With --candidate, the gains, losses and changes of deciding policy; it exits 1 when the candidate grants access to anyone the current set denies, unless --allow-gains.",
  options: reviewOptions,
  failure: 'the candidate grants access the current set denies (without --allow-gains)',
  run: (values, _positionals, io) => runReview(values, io),
});

function readCandidate(path: string, config: CliConfig): ReviewCandidate {
  const value = readJson(path);
  if (!isObject(value)) throw new CliError(`\`${path}\` must be an object with \`applications\` and/or \`gateway\``);
  const unknown = Object.keys(value).filter((k) => !['applications', 'gateway', 'ruleGroups', 'lists', 'idp'].includes(k));
  if (unknown.length > 0) throw new CliError(`\`${path}\`: unknown key \`${unknown[0]}\` (expected applications, gateway, ruleGroups, lists)`);
  if (value.applications === undefined && value.gateway === undefined) throw new CliError(`\`${path}\` has neither \`applications\` nor \`gateway\``);
  // The candidate is checked as a configuration of its own (with the current rule groups and lists unless it brings its own).
  const merged: CliConfig = {
    ...(value.applications === undefined ? {} : { applications: value.applications as CliConfig['applications'] }),
    ...(value.gateway === undefined ? {} : { gateway: value.gateway as CliConfig['gateway'] }),
    ruleGroups: (value.ruleGroups as CliConfig['ruleGroups']) ?? config.ruleGroups ?? [],
    lists: (value.lists as CliConfig['lists']) ?? config.lists ?? {},
  };
  const problems = checkConfig(merged, path);
  if (problems.length > 0) throw new CliError(`the candidate has problems:\n  ${problems.map((p) => `${p.location}: ${p.message}`).join('\n  ')}`);
  return merged as ReviewCandidate;
}

async function openStore(where: string): Promise<DirectoryStore> {
  const { openDirectoryStore } = await import('../store/open-store.js');
  if (/^postgres(ql)?:\/\//i.test(where)) return openDirectoryStore({ driver: 'postgres', connectionString: where });
  // INVARIANT: a mistyped folder is an error, never the review of a new, empty directory.
  const dir = resolve(where);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CliError(`\`--store ${where}\`: no such folder (a PGlite directory folder, or a postgres:// URL)`);
  return openDirectoryStore({ driver: 'pglite', dataDir: dir });
}

function progressBar(io: CliIo): ((done: number, total: number) => void) | undefined {
  if (!io.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} users`);
  };
}

async function runReview(values: OptionValues<typeof reviewOptions>, io: CliIo): Promise<number> {
  if (values.config === undefined) throw new CliError('`--config <file>` is required');
  if (values.store === undefined) throw new CliError('`--store <pglite dir | postgres url>` is required');
  const format = values.format as ReviewFormat;
  if (!REVIEW_FORMATS.includes(format)) throw new CliError(`\`--format\` must be one of ${REVIEW_FORMATS.join(', ')}, not \`${values.format}\``);
  const config = readJson(values.config) as CliConfig;
  const problems = checkConfig(config, values.config);
  if (problems.length > 0)
    throw new CliError(
      `the configuration has problems; run \`entragate check --config ${values.config}\`:\n  ${problems.map((p) => `${p.location}: ${p.message}`).join('\n  ')}`,
    );
  if (config.idp === undefined) throw new CliError(`\`${values.config}\` has no \`idp\`: the review matches directory users to the IdP's tenant`);
  const names = Object.keys(config.applications ?? {});
  if (values.application !== undefined && !names.includes(values.application))
    throw new CliError(`no application \`${values.application}\` in the configuration (${names.map((n) => `\`${n}\``).join(', ') || 'none'})`);
  if (values.gateway && config.gateway === undefined) throw new CliError('`--gateway`: the configuration has no `gateway` rules');
  const applications = values.application === undefined ? names : [values.application];
  if (applications.length === 0 && !values.gateway) throw new CliError('the configuration has no applications (give `--gateway` to review the Gateway rules)');
  const candidate = values.candidate === undefined ? undefined : readCandidate(values.candidate, config);
  const store = await openStore(values.store);
  try {
    const gate = createGate({
      idp: config.idp as GateOptions['idp'],
      applications: (config.applications ?? {}) as GateOptions['applications'],
      ruleGroups: config.ruleGroups ?? [],
      lists: config.lists ?? {},
      ...(config.gateway === undefined ? {} : { gateway: config.gateway }),
      groups: createDirectoryGroupSource({ store }),
      tokenGroups: 'ignore',
      revocations: store.revocations,
    });
    const onProgress = progressBar(io);
    const result = await reviewAccess({
      gate,
      store,
      application: applications,
      gateway: values.gateway,
      ...(candidate === undefined ? {} : { candidate }),
      ...(onProgress === undefined ? {} : { onProgress }),
    });
    if (onProgress !== undefined) io.stderr('\r\x1b[K');
    const text = renderReview(result, format);
    if (values.out === undefined) io.stdout(text);
    else {
      writeFileSync(resolve(values.out), text);
      io.stderr(`wrote ${values.out} (${result.users} users)\n`);
    }
    const gains = result.targets.reduce((n, t) => n + t.gains, 0);
    if (candidate !== undefined && gains > 0) {
      if (values['allow-gains']) {
        io.stderr(
          `the candidate grants access to ${gains} user-application pair${gains === 1 ? '' : 's'} the current set does not (allowed by --allow-gains)\n`,
        );
        return 0;
      }
      io.stderr(
        `the candidate grants access to ${gains} user-application pair${gains === 1 ? '' : 's'} the current set does not: review them, or pass --allow-gains\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    await store.close();
  }
}
