import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('plays the whole story and exits 0, every step as expected', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { timeout: 150_000, env: { ...process.env, NODE_ENV: 'test' } });
    expect(stdout).toMatch(/Entra → SCIM: create user ada@contoso\.com +201 +201 +✓/);
    expect(stdout).toMatch(/Ada opens \/portal \(Platform ⊂ Engineering\) +200 +200 +✓ +policy `Engineering`/);
    expect(stdout).toMatch(/Bob opens \/portal .* 403 +403 +✓ +denied by policy `Block contractors`/);
    expect(stdout).toMatch(/Ada Lovelace logs in +302 \/portal, session, S256 +302 \/portal, session, S256 +✓/);
    expect(stdout).toMatch(/Ada opens \/portal with her session +401 +401 +✓ .*ERR_SESSION_REVOKED/);
    // The identity pipeline: the directory decides at the login too, and sessions follow it (`automatic`).
    expect(stdout).toMatch(/Bob opens \/portal with the same session +403 +403 +✓ +denied by policy `Block contractors`/);
    expect(stdout).toMatch(/Ada, deprovisioned, logs in again +403 ERR_DIRECTORY_USER_INACTIVE, no session +403 ERR_DIRECTORY_USER_INACTIVE, no session +✓/);
    // The access review and a candidate diff, on the same directory.
    expect(stdout).toMatch(/Access review of \/portal +ada allowed, bob denied, cy denied +ada allowed, bob denied, cy denied +✓/);
    expect(stdout).toMatch(
      /Candidate policy diff for \/portal +ada allowed, bob allowed, cy conditional \(ip\) +ada allowed, bob allowed, cy conditional \(ip\) +✓ +2 gains/,
    );
    expect(stdout).not.toContain('✗');
    expect(stdout).toMatch(/all \d+ steps went as expected/);
  }, 180_000);
});
