import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy between store instances and the local PostgreSQL that can freeze or drop the
 * connections that LISTEN (the store's listener): it spots them by the `LISTEN ` query text
 * in the client's bytes. Frozen = nothing is forwarded either way and nothing is closed (a
 * half-open connection, as a stuck NAT or proxy leaves it); the bytes are held and delivered
 * on `unfreeze`, as a healed partition would. While frozen, a new listener connection freezes
 * as soon as it sends its LISTEN.
 */
export interface PgProxy {
  /** `postgres://…@127.0.0.1:<proxy port>/test`, for the instance under test. */
  readonly url: string;
  freezeListeners(): void;
  unfreeze(): void;
  /** Closes every listener connection (both sides), as a server or network reset would. */
  dropListeners(): void;
  /** Listener connections open now, and how many of them are frozen. */
  listeners(): { open: number; frozen: number };
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  listener: boolean;
  frozen: boolean;
  up: Buffer[];
  down: Buffer[];
}

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const links = new Set<Link>();
  let freezing = false;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const link: Link = { client, upstream, listener: false, frozen: false, up: [], down: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (!link.listener && chunk.includes('LISTEN ')) {
        link.listener = true;
        if (freezing) link.frozen = true;
      }
      if (link.frozen) link.up.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.frozen) link.down.push(chunk);
      else client.write(chunk);
    });
    const end = (): void => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    freezeListeners() {
      freezing = true;
      for (const link of links) if (link.listener) link.frozen = true;
    },
    unfreeze() {
      freezing = false;
      for (const link of links) {
        if (!link.frozen) continue;
        link.frozen = false;
        for (const chunk of link.up.splice(0)) link.upstream.write(chunk);
        for (const chunk of link.down.splice(0)) link.client.write(chunk);
      }
    },
    dropListeners() {
      for (const link of [...links]) {
        if (!link.listener) continue;
        links.delete(link);
        link.client.destroy();
        link.upstream.destroy();
      }
    },
    listeners() {
      const listening = [...links].filter((l) => l.listener);
      return { open: listening.length, frozen: listening.filter((l) => l.frozen).length };
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
