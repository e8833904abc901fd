import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sourceFiles as sources } from '../architecture/source-files.js';
import { join } from 'node:path';
import { ERROR_CODES, EntragateError, TokenError, bearerChallenge } from '../../src/index.js';
import { withErrorTable } from '../../scripts/error-table.js';

describe('error codes', () => {
  const code = sources('src')
    .filter((path) => !path.endsWith(join('errors', 'codes.ts')))
    .map((path) => readFileSync(path, 'utf8'))
    .join('\n');

  it.each(Object.keys(ERROR_CODES))('%s is raised somewhere in src/', (name) => {
    expect(code).toContain(`'${name}'`);
  });

  it('every code is documented in the README, and the table is current', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const name of Object.keys(ERROR_CODES)) expect(readme).toContain(`\`${name}\``);
    expect(withErrorTable(readme)).toBe(readme);
  });

  it('every error keeps its cause, name and status', () => {
    const cause = new Error('root');
    const error = new TokenError('ERR_TOKEN_EXPIRED', 'the token expired', { cause });
    expect(error).toBeInstanceOf(EntragateError);
    expect(error.name).toBe('TokenError');
    expect(error.cause).toBe(cause);
    expect(error.status).toBe(401);
    expect(error.expose).toBe(true);
    expect(error.headers['WWW-Authenticate']).toBe('Bearer realm="entragate", error="invalid_token", error_description="the token expired"');
  });

  it('a missing token gets a bare challenge, without error details (RFC 6750 §3.1)', () => {
    const error = new TokenError('ERR_TOKEN_MISSING', 'no bearer token was presented');
    expect(error.headers['WWW-Authenticate']).toBe('Bearer realm="entragate"');
  });

  it('quotes cannot break out of the challenge', () => {
    expect(bearerChallenge('invalid_token', 'bad "kid" \\ here')).toBe('Bearer realm="entragate", error="invalid_token", error_description="bad kid  here"');
  });
});
