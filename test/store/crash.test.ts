import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openDirectoryStore } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'entragate-crash-'));

describe('a process killed mid-sync', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('restarts with the state of its last committed write (a prefix of the writes)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./crash-child.ts', import.meta.url)), dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let committed = -1;
    let buffer = '';
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const m of buffer.matchAll(/committed (\d+)\n/g)) committed = Math.max(committed, Number(m[1]));
        if (committed >= 30) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          child.on('exit', () => resolve());
        }
      });
    });
    expect(committed).toBeGreaterThanOrEqual(30);
    const store = await openDirectoryStore({ driver: 'pglite', dataDir: dir });
    try {
      const users = await store.users.query({ startIndex: 1, count: 10_000 });
      const names = users.resources.map((r) => r.attributes.userName as string);
      const n = names.length;
      // Every write the child saw commit is there, and nothing out of order: user0 … user(n-1).
      expect(n).toBeGreaterThanOrEqual(committed + 1);
      expect(names.sort()).toEqual(Array.from({ length: n }, (_, i) => `user${i}@contoso.com`).sort());
      const group = (await store.groups.query({ keys: [{ field: 'displayName', value: 'all' }], startIndex: 1, count: 1, members: true })).resources[0]!;
      const members = new Set(group.members!.map((m) => m.value));
      const ids = new Map(users.resources.map((r) => [r.attributes.userName as string, r.id]));
      // Each user but possibly the last (killed between its two transactions) is a member; no dangling member.
      for (let i = 0; i < n - 1; i++) expect(members.has(ids.get(`user${i}@contoso.com`)!)).toBe(true);
      expect(members.size === n || members.size === n - 1).toBe(true);
      expect(store.index.size.users).toBe(n);
      expect(store.index.directMembers(group.id)).toHaveLength(members.size);
    } finally {
      await store.close();
    }
  }, 90_000);
});
