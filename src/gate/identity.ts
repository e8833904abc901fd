/**
 * The one identity pipeline every credential takes (bearer token, Cloudflare assertion, login callback,
 * session): the revocation check, the directory's standing, then the groups.
 */
import { SessionError, StoreError } from '../errors/index.js';
import { errorOf } from '../errors/errors.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from '../groups/types.js';
import { resolveMembership } from '../groups/resolve-groups.js';
import type { RevocationList } from '../session/revocation.js';
import type { GroupMembership, Identity } from '../types.js';
import { channels, publish } from '../diagnostics.js';
import type { CredentialRef, ResolveContext } from './types.js';

/** What the pipeline reads from the gate's configuration. */
export interface IdentityPipelineSettings {
  /** The group source (or chain), if any. */
  readonly source: GroupSource | undefined;
  /** The home tenant, lower-cased. */
  readonly home: string;
  /** `tokenGroups: 'prefer'`: a complete `groups` claim answers without the sources. */
  readonly preferToken: boolean;
  readonly revocations: RevocationList;
  /** The clock tolerance, seconds. */
  readonly tolerance: number;
}

/** The pipeline's steps, as the gate exposes them. */
export interface IdentityPipeline {
  resolveIdentity(identity: Identity, context: ResolveContext): Promise<Identity>;
  subjectsOf(identity: Identity, claims?: Readonly<Record<string, unknown>>): readonly string[];
  assertNotRevoked(credential: CredentialRef): void;
}

const UPN_CLAIMS = ['preferred_username', 'upn', 'unique_name'] as const;

/** Builds the identity pipeline of a gate. */
export function createIdentityPipeline(settings: IdentityPipelineSettings): IdentityPipeline {
  const { source, home, preferToken, revocations, tolerance } = settings;
  // Answers reused per input identity: while a source hands back the same groups array (the directory
  // does, unchanged), the resolved identity is the same object, so the compiled policies' per-identity
  // caches keep working (a fresh object per request costs a decision about ten times more).
  const resolved = new WeakMap<Identity, { groups: GroupResolution['groups']; membership: GroupMembership; identity: Identity }>();
  const subjectCache = new WeakMap<Identity, readonly string[]>();

  function sourceContext(claims: Readonly<Record<string, unknown>>, graphToken: string | undefined): GroupSourceContext {
    return graphToken === undefined ? { claims, homeTenant: home } : { claims, graphToken, homeTenant: home };
  }

  async function resolveIdentity(identity: Identity, context: ResolveContext): Promise<Identity> {
    if (source === undefined) return identity;
    const sctx = sourceContext(context.claims, context.graphToken);
    const standing = source.standing?.(identity, sctx);
    // INVARIANT: a user the directory deprovisioned gets nothing on any path (bearer, login, session),
    // whatever the token's groups say; a directory that cannot say fails closed with a 503.
    if (standing !== undefined && standing.state === 'refused') throw errorOf(standing.code, standing.reason);
    if (standing !== undefined && standing.state === 'unknown') throw errorOf(standing.code, standing.reason, { status: 503 });
    if (preferToken && identity.membership.state === 'complete') return identity;
    const answer = await resolveMembership(identity, source, sctx);
    const last = resolved.get(identity);
    if (last !== undefined && last.groups === answer.groups && sameMembership(last.membership, answer.membership)) return last.identity;
    const next: Identity = { ...identity, groups: answer.groups, membership: answer.membership };
    resolved.set(identity, { groups: answer.groups, membership: answer.membership, identity: next });
    return next;
  }

  function subjectsOf(identity: Identity, claims?: Readonly<Record<string, unknown>>): readonly string[] {
    const cached = claims === undefined ? undefined : subjectCache.get(identity);
    if (cached !== undefined) return cached;
    const out = new Set<string>();
    const add = (v: unknown): void => {
      if (typeof v === 'string' && v.length > 0) out.add(v.toLowerCase());
    };
    add(identity.oid);
    add(identity.user_uuid);
    add(identity.sub);
    add(identity.email);
    if (claims !== undefined) for (const c of UPN_CLAIMS) add(claims[c]);
    const list = Object.freeze([...out]);
    if (claims !== undefined) subjectCache.set(identity, list);
    return list;
  }

  function assertNotRevoked(credential: CredentialRef): void {
    // A credential issued up to the clock tolerance after a revocation counts as revoked: the issuer's
    // clock (Entra's, or another instance's for a session) may run that far ahead of the revoker's. Applied
    // here, on the one path every credential takes, so any `RevocationList` gets it (`toleranceSeconds: 0`
    // keeps a list that applies its own from adding it twice).
    const issuedAt = credential.issuedAt - tolerance;
    const query =
      credential.appId === undefined
        ? { subjects: credential.subjects, issuedAt, toleranceSeconds: 0 }
        : { subjects: credential.subjects, appId: credential.appId, issuedAt, toleranceSeconds: 0 };
    const answer: unknown = revocations.isRevoked(query);
    // INVARIANT: a list that cannot say is an outage (503), never an allow.
    if (answer === 'unknown')
      throw new StoreError('ERR_STORE_STALE', 'the revocations cannot be read right now (the store has not heard from its database)', { status: 503 });
    if (answer !== false) {
      publish(channels.revoked, {
        event: 'refused',
        code: 'ERR_SESSION_REVOKED',
        ...(credential.userId === undefined ? {} : { user_uuid: credential.userId }),
      });
      throw new SessionError('ERR_SESSION_REVOKED', 'the credential was issued before a revocation of this user or app: sign in again');
    }
  }

  return { resolveIdentity, subjectsOf, assertNotRevoked };
}

/** Whether two memberships say the same (a source may build a new object for an unchanged answer). */
function sameMembership(a: GroupMembership, b: GroupMembership): boolean {
  if (a === b) return true;
  if (a.state !== b.state) return false;
  switch (a.state) {
    case 'complete': {
      const c = b as typeof a;
      const x = a.fields ?? ['id'];
      const y = c.fields ?? ['id'];
      return a.source === c.source && x.length === y.length && x.every((f) => y.includes(f));
    }
    case 'absent':
      return true;
    case 'overage':
      return a.signal === (b as typeof a).signal;
    case 'unknown':
      return a.code === (b as typeof a).code && a.reason === (b as typeof a).reason;
  }
}
