/**
 * The README's first step runs as a newcomer runs it: one command (`npx tsx examples/try-mock.ts`), against
 * the mock Entra ID, importing `entragate` by name. A member of the group is let in (the positive control),
 * a request without a token is a 401, a non-member a 403.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('examples/try-mock.ts', () => {
  it('runs with one command and answers 401, 200 and 403', async () => {
    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'examples/try-mock.ts'], { timeout: 60_000 });
    expect(stdout).toContain('no token: 401 {"code":"ERR_TOKEN_MISSING"}');
    expect(stdout).toContain('member: 200 {"hello":"Ada","allowedBy":"Engineering"}');
    expect(stdout).toMatch(/outsider: 403 .*"code":"ERR_ACCESS_DENIED"/);
  }, 90_000);
});
