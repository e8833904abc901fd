// Syncs users into a PGlite folder forever, printing each committed step; the parent kills it with SIGKILL.
import { openDirectoryStore } from '../../src/store/index.js';

const store = await openDirectoryStore({ driver: 'pglite', dataDir: process.argv[2]! });
const group = (await store.groups.create({ displayName: 'all' }, [])).resource!;
process.stdout.write(`group ${group.id}\n`);
for (let i = 0; ; i++) {
  const user = (await store.users.create({ userName: `user${i}@contoso.com`, emails: [{ type: 'work', value: `user${i}@contoso.com` }] })).resource!;
  await store.groups.update(group.id, { members: [{ op: 'add', ids: [user.id] }] });
  process.stdout.write(`committed ${i}\n`);
}
