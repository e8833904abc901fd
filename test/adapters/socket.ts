import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Reply, SocketApp } from './fixture.js';

/** Listens on 127.0.0.1:0 and sends requests with `fetch` over the real socket (or raw bytes with `raw`). */
export async function overSocket(server: Server): Promise<SocketApp> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    async send(method, path, headers = {}, body) {
      const response = await fetch(`${base}${path}`, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body }) });
      return toReply(response);
    },
    raw: (bytes) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect((server.address() as AddressInfo).port, '127.0.0.1', () => socket.end(bytes));
        let out = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (out += chunk));
        // Resolves when the server closes the connection: a server that keeps it open fails by timeout.
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export async function toReply(response: Response): Promise<Reply> {
  const headers: Reply['headers'] = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  return { status: response.status, headers, text: await response.text() };
}
