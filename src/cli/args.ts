/**
 * The command table's types, argument parsing and generated help. A command is
 * declared once (its options, positionals and run function) and gets `--help`,
 * unknown-flag messages that name its flags, and exit code 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { CliError } from './config-file.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Progress is shown only on a terminal. @defaultValue `process.stderr.isTTY` */
  isTTY: boolean;
}

/** One option of a command. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** A one-letter alias (`-c`). */
  readonly short?: string;
  /** A string option's default (shown in the help). Booleans default to `false`. */
  readonly default?: string;
  /** The placeholder shown in the help (`<file>`). @defaultValue `<value>` */
  readonly value?: string;
  readonly description: string;
}

/** A command's options by long name (without the `--`). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The parsed values of `O`: booleans are always set, strings only when given or defaulted. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { readonly default: string } ? string : string | undefined;
};

/** A command of the table in `commands.ts`. */
export interface Command<O extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  /** One line for the overview. */
  readonly summary: string;
  /** The synopsis after `entragate <name>`, one entry a line. */
  readonly synopsis: readonly string[];
  /** What the command does, printed under the synopsis in its help. */
  readonly description: string;
  readonly options: O;
  /** The positional arguments, e.g. `{ names: '<cases.json>', min: 1, max: 1 }`. @defaultValue none */
  readonly positionals?: { readonly names: string; readonly min: number; readonly max: number };
  /** What exit code 1 means for this command. */
  readonly failure: string;
  run(values: OptionValues<O>, positionals: string[], io: CliIo): number | Promise<number>;
}

/** Declares a command with its option values typed from its option table. */
export function defineCommand<const O extends OptionSpecs>(command: Command<O>): Command {
  return command as unknown as Command;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'print this help and exit' };

/** True when `-h` or `--help` appears before a `--` terminator. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help');
}

function flagList(command: Command): string {
  return [...Object.entries(command.options), ['help', HELP] as const]
    .map(([name, o]) => `--${name}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}${o.short ? ` (-${o.short})` : ''}`)
    .join(', ');
}

/** The Levenshtein distance, for "did you mean" on a mistyped flag or command. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest of `names` to `typed` (at most two edits away), for a "did you mean" hint. */
export function closest(typed: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = distance(typed, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best;
}

/**
 * Parses `args` for `command`. A usage error is a `CliError` whose message names
 * the command's flags (or the expected arguments), never node's generic text.
 */
export function parseCommand(command: Command, args: string[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }> = {};
  for (const [name, o] of Object.entries(command.options)) {
    options[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.type === 'boolean' ? { default: false } : o.default !== undefined ? { default: o.default } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(command, error);
  }
  const { values, positionals } = parsed;
  const { min, max, names } = command.positionals ?? { min: 0, max: 0, names: '' };
  if (positionals.length > max) {
    const extra = positionals[max]!;
    throw new CliError(
      max === 0
        ? `unexpected argument \`${extra}\`: \`${command.name}\` takes only options: ${flagList(command)}`
        : `unexpected argument \`${extra}\`: \`${command.name}\` takes ${names}`,
    );
  }
  if (positionals.length < min) throw new CliError(`\`${command.name}\` needs ${names}: \`entragate ${command.name} ${command.synopsis[0] ?? ''}\``);
  return { values: values as Record<string, string | boolean | undefined>, positionals };
}

function usageError(command: Command, error: unknown): CliError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  // node's messages quote the flag as typed: `Unknown option '--confg'`, `Option '-c, --config <value>' argument missing`.
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = quoted.replace(/^-+/, '').split('=')[0]!;
    const names = [...Object.keys(command.options), 'help'];
    const hint = typed.length > 1 ? closest(typed, names) : undefined;
    return new CliError(`unknown option \`${quoted}\`${hint ? ` (did you mean \`--${hint}\`?)` : ''}; \`${command.name}\` takes ${flagList(command)}`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /--[a-z-]+/.exec(quoted)?.[0] ?? quoted;
    const spec = command.options[flag.slice(2)];
    if (spec?.type === 'boolean') return new CliError(`option \`${flag}\` takes no value`);
    return new CliError(`option \`${flag}\` needs a value: \`${flag} ${spec?.value ?? '<value>'}\` (a value starting with \`-\` is written \`${flag}=-…\`)`);
  }
  return new CliError(message);
}

/** The help of one command: synopsis, description, options, exit codes. */
export function commandHelp(command: Command): string {
  const rows = [...Object.entries(command.options), ['help', HELP] as const].map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}`;
    return [flag, `${o.description}${o.default !== undefined ? ` (default ${o.default})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const [first, ...more] = command.synopsis;
  const indent = ' '.repeat(`usage: entragate ${command.name} `.length);
  return [
    `usage: entragate ${command.name} ${first ?? ''}`.trimEnd(),
    ...more.map((line) => `${indent}${line}`),
    '',
    command.description,
    '',
    'options:',
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
    '',
    `exit codes: 0 ok, 1 ${command.failure}, 2 a usage or input error`,
    '',
  ].join('\n');
}
