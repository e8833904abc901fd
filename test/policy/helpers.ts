import type { GroupMembership, Identity } from '../../src/types.js';

/** The compact identity form used by fixtures and tests. */
export interface IdentityShorthand {
  email?: string;
  name?: string;
  idp?: string;
  amr?: string[];
  groups?: (string | { id: string; name?: string; email?: string })[];
  membership?: GroupMembership;
  oidc_fields?: Record<string, unknown>;
}

/** Expands a shorthand into a full `Identity` (complete membership from Graph, which supplies every group field, by default). */
export function makeIdentity(s: IdentityShorthand = {}): Identity {
  const email = s.email ?? 'user@example.com';
  return {
    email,
    name: s.name ?? 'Test User',
    user_uuid: `uuid-${email}`,
    idp: { id: s.idp ?? 'entra', type: 'azureAD' },
    amr: s.amr ?? ['pwd'],
    groups: (s.groups ?? []).map((g) => (typeof g === 'string' ? { id: g } : g)),
    membership: s.membership ?? { state: 'complete', source: 'graph', fields: ['id', 'name', 'email'] },
    oidc_fields: s.oidc_fields ?? {},
    oid: `oid-${email}`,
    tid: 'tenant',
    sub: `sub-${email}`,
    iat: 1_700_000_000,
    exp: 1_700_003_600,
    ver: '2.0',
  };
}

/** Runs `fn` and returns what it threw (failing when it did not throw). */
export function thrown(fn: () => unknown): { code?: string; message: string; name: string } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string; name: string };
  }
  throw new Error('expected a throw');
}
