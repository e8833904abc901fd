import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import { startScimServer, type ScimServer } from './helpers.js';

let store: DirectoryStore;
let scim: ScimServer;
beforeAll(async () => {
  store = await openDirectoryStore({ driver: 'pglite', dataDir: 'memory://' });
  scim = await startScimServer({ store, basePath: '/scim/v2' });
});
afterAll(async () => {
  await scim.close();
  await store.close();
});

describe("a group's mail over SCIM (issue 12 #4: the directory never filled group emails)", () => {
  it("keeps the mail a provisioning app sends, so the directory's groups carry it; a group without one has none", async () => {
    const user = (await scim.request('POST', '/Users', { userName: 'mel@contoso.com', externalId: 'e5b1c7a0-0000-4000-8000-00000000000a', active: true }))
      .json as { id: string };
    const mailed = await scim.request('POST', '/Groups', {
      displayName: 'Finance',
      externalId: 'f1a2b3c4-0000-4000-8000-00000000000f',
      emails: [{ value: 'finance@contoso.com', primary: true, type: 'work' }],
      members: [{ value: user.id }],
    });
    expect(mailed.status).toBe(201);
    expect((mailed.json as { emails?: unknown }).emails).toEqual([{ value: 'finance@contoso.com', primary: true, type: 'work' }]);
    const plain = await scim.request('POST', '/Groups', {
      displayName: 'Plain',
      externalId: 'f1a2b3c4-0000-4000-8000-0000000000aa',
      members: [{ value: user.id }],
    });
    expect(plain.status).toBe(201);
    const groups = store.index.groupsOfUser(user.id);
    expect(groups).toContainEqual({ id: 'f1a2b3c4-0000-4000-8000-00000000000f', name: 'Finance', email: 'finance@contoso.com' });
    expect(groups).toContainEqual({ id: 'f1a2b3c4-0000-4000-8000-0000000000aa', name: 'Plain' });
  });
});
