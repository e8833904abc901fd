import { createDirectoryGroupSource } from '../../src/groups/directory-source.js';
import { createGate, type Gate, type GateOptions } from '../../src/gate.js';
import { openDirectoryStore, type DirectoryStore } from '../../src/store/index.js';
import type { ReviewCandidate } from '../../src/review/index.js';

export const TENANT = '00000000-0000-4000-8000-0000000000d1';
export const G_ENG = '11111111-0000-4000-8000-000000000001';
export const G_PLAT = '11111111-0000-4000-8000-000000000002';
export const G_FIN = '11111111-0000-4000-8000-000000000003';
export const HOSTILE_USER = '<script>alert("u")</script>@contoso.com';
export const HOSTILE_NAME = '<img src=x onerror="alert(1)"><script>document.title="pwned"</script>';

export const idp = {
  type: 'azureAD',
  name: 'Entra ID (review tests)',
  config: { client_id: '00000000-0000-4000-8000-00000000c1d0', directory_id: TENANT },
} as const;

/** The enforced set: engineers (nested groups count), finance only from the office network. */
export const applications = {
  portal: {
    policies: [
      { name: 'engineers', decision: 'allow', include: [{ azureAD: { id: G_ENG } }] },
      { name: 'finance-office', decision: 'allow', include: [{ azureAD: { id: G_FIN } }], require: [{ ip: { ip: '10.0.0.0/8' } }] },
    ],
  },
  wiki: {
    policies: [{ name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'contoso.com' } }] }],
  },
} satisfies GateOptions['applications'];

/** The candidate: platform only, finance from anywhere, eve by email. */
export const candidate: ReviewCandidate = {
  applications: {
    portal: {
      policies: [
        { name: 'platform-only', decision: 'allow', include: [{ azureAD: { id: G_PLAT } }] },
        { name: 'finance', decision: 'allow', include: [{ azureAD: { id: G_FIN } }] },
        { name: 'eve-by-email', decision: 'allow', include: [{ email: { email: 'eve@contoso.com' } }] },
      ],
    },
  },
};

export interface Directory {
  store: DirectoryStore;
  gate: Gate;
  ids: Record<string, string>;
}

const user = (userName: string, extra: Record<string, unknown> = {}) => ({ userName, emails: [{ type: 'work', value: userName, primary: true }], ...extra });

/** A PGlite directory as SCIM provisions it: users, groups with Entra object ids, a nested group, an inactive user. */
export async function openDirectory(dataDir = 'memory://'): Promise<Directory> {
  const store = await openDirectoryStore({ driver: 'pglite', dataDir });
  const ids: Record<string, string> = {};
  const add = async (key: string, attributes: Record<string, unknown>) => {
    ids[key] = (await store.users.create(attributes as never)).resource!.id;
  };
  await add('ada', user('ada@contoso.com', { externalId: '22222222-0000-4000-8000-00000000000a', displayName: 'Ada Lovelace' }));
  await add('bob', user('bob@contoso.com', { externalId: '22222222-0000-4000-8000-00000000000b', displayName: 'Bob' }));
  await add('cara', user('cara@contoso.com', { displayName: 'Cara' }));
  await add('dan', user('dan@contoso.com', { displayName: 'Dan (left)', active: false }));
  await add('eve', user('eve@contoso.com', { displayName: 'Eve' }));
  await add('hostile', user(HOSTILE_USER, { displayName: HOSTILE_NAME }));
  const platform = (await store.groups.create({ displayName: 'Platform', externalId: G_PLAT } as never, [ids.bob!])).resource!.id;
  await store.groups.create({ displayName: 'Engineering', externalId: G_ENG } as never, [ids.ada!, ids.dan!, ids.hostile!, platform]);
  await store.groups.create({ displayName: 'Finance', externalId: G_FIN } as never, [ids.cara!]);
  const gate = createGate({ idp, applications, groups: createDirectoryGroupSource({ store }), tokenGroups: 'ignore', revocations: store.revocations });
  return { store, gate, ids };
}
