import type { RequestListener } from 'node:http';
import request from 'supertest';
import type { AppUnderTest, Reply } from './fixture.js';

/** Drives an app through supertest (the framework's own test path): an Express app or a Node listener. */
export function viaSupertest(app: RequestListener): AppUnderTest {
  return {
    async send(method, path, headers = {}, body) {
      let test = request(app)[method.toLowerCase() as 'get' | 'post'](path).set(headers);
      if (body !== undefined) test = test.send(body);
      const res = await test;
      return { status: res.status, headers: res.headers as Reply['headers'], text: res.text ?? '' };
    },
    close: async () => undefined,
  };
}
