/**
 * The `entragate` command line: `check`, `eval`, `test`, `review` and `doctor` (the table is in
 * `commands.ts`), `--version` and `--help`.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { EntragateError } from '../errors/index.js';
import { closest, commandHelp, parseCommand, wantsHelp, type CliIo, type Command, type OptionValues, type OptionSpecs } from './args.js';
import { commands } from './commands.js';
import { CliError } from './config-file.js';

export type { CliIo };

const defaultIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
});

/** The installed package's version, read through the package's self-reference (`exports["./package.json"]`). */
export function version(): string {
  return (createRequire(import.meta.url)('entragate/package.json') as { version: string }).version;
}

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'usage: entragate <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'options:',
    "  -h, --help     print this help, or a command's (`entragate check --help`)",
    '  -v, --version  print the version',
    '',
    'exit codes: 0 ok, 1 a check or test failed, 2 a usage or input error',
    '',
  ].join('\n');
}

function find(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}

function unknownCommand(name: string): string {
  const hint = closest(
    name,
    commands.map((c) => c.name),
  );
  const what = name.startsWith('-') ? `unknown option \`${name}\`` : `unknown command \`${name}\`${hint ? ` (did you mean \`${hint}\`?)` : ''}`;
  return `entragate: ${what}\n\n${overview()}`;
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves to the
 * exit code: 0 success, 1 a check or test failed, 2 a usage or input error.
 * It never calls `process.exit`. `entragate <command> --help` prints the
 * command's usage and exits 0; an unknown option names the command's options.
 *
 * @example
 * ```ts
 * // bin/entragate.js runs the built copy of this module:
 * const code = await main(['check', '--config', 'entragate.json']);
 * process.exitCode = code;
 * ```
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(overview());
    return 2;
  }
  if (name === '-v' || name === '--version' || name === 'version') {
    io.stdout(`${version()}\n`);
    return 0;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    const topic = rest[0];
    if (topic === undefined) io.stdout(overview());
    else {
      const command = find(topic);
      if (command === undefined) {
        io.stderr(unknownCommand(topic));
        return 2;
      }
      io.stdout(commandHelp(command));
    }
    return 0;
  }
  const command = find(name);
  if (command === undefined) {
    io.stderr(unknownCommand(name));
    return 2;
  }
  if (wantsHelp(rest)) {
    io.stdout(commandHelp(command));
    return 0;
  }
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(command, rest);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    io.stderr(`entragate ${name}: ${error.message}\nrun \`entragate ${name} --help\` for its usage\n`);
    return 2;
  }
  try {
    return await command.run(parsed.values as OptionValues<OptionSpecs>, parsed.positionals, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`entragate ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof EntragateError) {
      io.stderr(`entragate ${name}: ${error.message} (${error.code})\n`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
