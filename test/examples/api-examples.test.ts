import { describe, expect, it, vi } from 'vitest';
import { run } from '../../examples/api-story.js';
import { createApi as expressApi } from '../../examples/api-express.js';
import { createApi as koaApi } from '../../examples/api-koa.js';
import { createApi as fastifyApi } from '../../examples/api-fastify.js';

describe('examples/api-*.ts: an API protected by scope and by role, against the mock Entra ID', () => {
  it.each([
    ['express', (gate: Parameters<typeof expressApi>[0]) => expressApi(gate) as unknown as import('node:http').RequestListener],
    ['koa', (gate: Parameters<typeof koaApi>[0]) => koaApi(gate).callback()],
    ['fastify', async (gate: Parameters<typeof fastifyApi>[0]) => (await fastifyApi(gate)).server],
  ] as const)('%s: every step answers as expected (401 without a token, 403 without the scope or role, 2xx with them)', async (name, build) => {
    const table = vi.spyOn(console, 'table').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await run(name, build)).toBe(true);
      const rows = table.mock.calls[0]![0] as Array<Record<string, string>>;
      expect(rows.map((r) => r.got)).toEqual(['200', '401', '200', '403', '201', '403', '204']);
      // The insufficient-scope challenge names the missing scope (RFC 6750 §3.1).
      expect(rows[3]!.why).toContain('error="insufficient_scope"');
      expect(rows[3]!.why).toContain('scope="Orders.Write"');
    } finally {
      table.mockRestore();
      log.mockRestore();
    }
  });
});

describe('examples/api-*.ts run with one command', () => {
  it.each(['express', 'koa', 'fastify'])(
    'npx tsx examples/api-%s.ts exits 0 with every step as expected',
    async (name) => {
      const { execFile } = await import('node:child_process');
      const { promisify } = await import('node:util');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', `examples/api-${name}.ts`], { timeout: 60_000 });
      expect(stdout).toContain('list orders with Orders.Read');
      expect(stdout).not.toContain("'NO'");
    },
    90_000,
  );
});
