/**
 * Writes the table of error codes into README.md between the error-codes markers,
 * from `src/errors/codes.ts` (the one source of truth). `npm run docs:errors`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors/codes.js';
import { familyOf } from '../src/errors/errors.js';

export function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, { status, doc }]) => `| \`${code}\` | \`${familyOf(code) ?? 'EntragateError'}\` | ${status} | ${doc} |`);
  return ['| code | class | status | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export function withErrorTable(readme: string): string {
  const start = '<!-- error-codes:start -->';
  const end = '<!-- error-codes:end -->';
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error('README.md has no error-codes markers');
  return `${readme.slice(0, a + start.length)}\n${errorTable()}\n${readme.slice(b)}`;
}

if (process.argv[1]?.endsWith('error-table.ts')) {
  writeFileSync('README.md', withErrorTable(readFileSync('README.md', 'utf8')));
}
