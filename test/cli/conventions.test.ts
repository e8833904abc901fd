/**
 * The command-line conventions: `--version`/`-v`, `-h`/`--help` on every command,
 * unknown flags answered with the command's flags, and the exit codes
 * (0 ok, 1 a check failed, 2 usage).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { commands } from '../../src/cli/commands.js';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

function io(): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    isTTY: false,
    stdout: (text: string) => {
      sink.out += text;
    },
    stderr: (text: string) => {
      sink.err += text;
    },
  };
  return sink;
}

async function run(...argv: string[]) {
  const sink = io();
  const code = await main(argv, sink);
  return { code, out: sink.out, err: sink.err };
}

const names = ['check', 'eval', 'test', 'review', 'doctor'];

describe('entragate --version', () => {
  it.each(['--version', '-v', 'version'])('`%s` prints the package version and exits 0 (regression: an unknown command)', async (flag) => {
    expect(await run(flag)).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });
});

describe('entragate --help', () => {
  it('lists every command of the table, with the global options and the exit codes', async () => {
    const { code, out, err } = await run('--help');
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/^usage: entragate <command> \[options\]\n/);
    expect(commands.map((c) => c.name)).toEqual(names);
    for (const c of commands) expect(out).toContain(`  ${c.name.padEnd(8)}${c.summary}\n`);
    expect(out).toContain('-v, --version');
    expect(out).toContain('exit codes: 0 ok, 1 a check or test failed, 2 a usage or input error');
    expect((await run('-h')).out).toBe(out);
    expect((await run('help')).out).toBe(out);
  });

  it('with no command, prints the overview on stderr and exits 2', async () => {
    const { code, out, err } = await run();
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(/^usage: entragate <command>/);
  });

  it.each(names)('`%s --help` and `-h` print that command\'s usage with every option, and exit 0 (regression: "Unknown option")', async (name) => {
    const command = commands.find((c) => c.name === name)!;
    const long = await run(name, '--help');
    expect(long.code).toBe(0);
    expect(long.err).toBe('');
    expect(long.out).toMatch(new RegExp(`^usage: entragate ${name} `));
    for (const option of Object.keys(command.options)) expect(long.out).toContain(`--${option}`);
    expect(long.out).toContain('-h, --help');
    expect(long.out).toContain(`exit codes: 0 ok, 1 ${command.failure}, 2 a usage or input error`);
    expect(await run(name, '-h')).toEqual(long);
    expect(await run('help', name)).toEqual(long);
  });

  it('answers --help before reading anything else on the line', async () => {
    const { code, out, err } = await run('check', '--config', 'does-not-exist.json', '--bogus', '--help');
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/^usage: entragate check /);
  });

  it('takes a --help after `--` as an argument, not as a request for help', async () => {
    const { code, err } = await run('test', '--', '--help');
    expect(code).toBe(2);
    expect(err).toBe('entragate test: cannot read `--help`\n');
  });

  it('`help <unknown>` is a usage error', async () => {
    const { code, err } = await run('help', 'frobnicate');
    expect(code).toBe(2);
    expect(err).toContain('unknown command `frobnicate`');
  });
});

describe('usage errors exit 2 and say what the command takes', () => {
  it.each(names)('an unknown flag on `%s` is named, with the command\'s own flags (regression: node\'s generic "Unknown option")', async (name) => {
    const command = commands.find((c) => c.name === name)!;
    const { code, out, err } = await run(name, '--frobnicate');
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(`entragate ${name}: unknown option \`--frobnicate\`; \`${name}\` takes `);
    for (const option of Object.keys(command.options)) expect(err).toContain(`--${option}`);
    expect(err).toContain('--help (-h)');
    expect(err).toContain(`run \`entragate ${name} --help\` for its usage`);
    expect(err).not.toContain('To specify a positional argument');
  });

  it('suggests the flag that was probably meant', async () => {
    const { code, err } = await run('check', '--confg', 'x.json');
    expect(code).toBe(2);
    expect(err).toMatch(/^entragate check: unknown option `--confg` \(did you mean `--config`\?\); `check` takes --config <file> \(-c\), --help \(-h\)\n/);
    // The value of a mistyped `--scim-secret=…` is a secret: the message names the flag only.
    const secret = await run('doctor', '--scim-secrte=Sup3rS3cretValue');
    expect(secret.err).toContain('unknown option `--scim-secrte` (did you mean `--scim-secret`?)');
    expect(secret.err).not.toContain('Sup3r');
  });

  it('an unknown short flag is named too', async () => {
    const { code, err } = await run('eval', '-z');
    expect(code).toBe(2);
    expect(err).toContain('unknown option `-z`; `eval` takes --config <file> (-c), --identity <file>');
  });

  it('a flag without its value says which value it needs', async () => {
    const { code, err } = await run('check', '--config');
    expect(code).toBe(2);
    expect(err).toContain('entragate check: option `--config` needs a value: `--config <file>`');
  });

  it('a value given to a boolean flag is refused', async () => {
    const { code, err } = await run('eval', '--json=yes');
    expect(code).toBe(2);
    expect(err).toContain('entragate eval: option `--json` takes no value');
  });

  it('an argument a command does not take is named', async () => {
    const check = await run('check', 'entragate.json');
    expect(check.code).toBe(2);
    expect(check.err).toContain('entragate check: unexpected argument `entragate.json`: `check` takes only options: --config <file> (-c)');
    const test = await run('test', 'a.json', 'b.json');
    expect(test.code).toBe(2);
    expect(test.err).toContain('entragate test: unexpected argument `b.json`: `test` takes one test file');
  });

  it('a missing positional names what is expected', async () => {
    const { code, err } = await run('test');
    expect(code).toBe(2);
    expect(err).toContain('entragate test: `test` needs one test file (`<cases.json>`): `entragate test <cases.json> [--config entragate.json]`');
  });

  it('a required option that is missing is a usage error', async () => {
    const { code, err } = await run('check');
    expect(code).toBe(2);
    expect(err).toBe('entragate check: `--config <file>` is required\n');
  });

  it('an unknown command suggests the closest one; an unknown global flag is named', async () => {
    const typo = await run('chek');
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^entragate: unknown command `chek` \(did you mean `check`\?\)\n\nusage: entragate <command>/);
    const flag = await run('--frobnicate');
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/^entragate: unknown option `--frobnicate`\n\nusage: entragate <command>/);
  });
});
