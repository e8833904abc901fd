import diagnostics from 'node:diagnostics_channel';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { parseWith } from '../config/idp.js';
import { GroupsError, type ErrorCode } from '../errors/index.js';
import { quoteId, unknownResolution } from '../groups/resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext } from '../groups/types.js';
import type { GroupField, GroupMembership, GroupRef, GroupSourceKind, Identity } from '../types.js';
import { ACCESS_COOKIE } from './assertion.js';
import { fetchJson, settleWithin } from './fetch-json.js';
import { normalizeTeamDomain } from './team-domain.js';
import { ACCESS_ASSERTION } from './types.js';

/**
 * The `node:diagnostics_channel` channel the get-identity source publishes on: one message per lookup that
 * reached Cloudflare, `{ ok, ms, groups? , code? }`. Messages never hold the assertion, the nonce or an email.
 */
export const ACCESS_IDENTITY_CHANNEL = 'entragate:cloudflare:get-identity';
const channel = diagnostics.channel(ACCESS_IDENTITY_CHANNEL);

/** A group source context that may carry the verified assertion in a field of its own. */
export interface AccessGroupSourceContext extends GroupSourceContext {
  /** The verified Cloudflare Access assertion of this identity (else it is read from `claims`, see {@link ACCESS_ASSERTION}). */
  accessAssertion?: string;
}

/** Options of {@link createAccessIdentityGroupSource}. Durations are milliseconds. */
export interface AccessIdentityGroupSourceOptions {
  /** The team domain (as for the verifier): get-identity is `<teamDomain>/cdn-cgi/access/get-identity`. */
  teamDomain: string;
  /**
   * The Cloudflare identity-provider id of your Entra login method: an answer whose `idp.id` is another (the
   * user signed in through another login method) is `unknown` (`ERR_ACCESS_IDENTITY_IDP_MISMATCH`, 403),
   * never "no groups". @defaultValue none: any login method's groups are taken
   */
  idpId?: string;
  /** `fetch` (tests inject one). @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch;
  /** Clock in ms (tests inject one). @defaultValue `Date.now` */
  now?: () => number;
  /** Deadline of one get-identity call, body included. @defaultValue 5000 */
  timeoutMs?: number;
  /** How long an answer is kept per `identity_nonce` (it describes the login, so it changes only with a new one). @defaultValue 300000 */
  ttlMs?: number;
  /** Answers kept at most (LRU). @defaultValue 10000 */
  maxEntries?: number;
  /**
   * After get-identity fails for an outage (down, slow, a 5xx), other lookups answer `unknown` at once for this
   * long instead of each waiting out `timeoutMs`; cached answers keep serving. `0` turns it off. @defaultValue 5000
   */
  failureBackoffMs?: number;
}

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `must be ${what}` });
const optionsSchema = z.strictObject({
  teamDomain: z.string().min(1),
  idpId: z.string().min(1).optional(),
  fetch: fn<typeof fetch>('a fetch function').optional(),
  now: fn<() => number>('a function returning ms').optional(),
  timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
  ttlMs: z.number().int().min(1_000).default(300_000),
  maxEntries: z.number().int().min(1).default(10_000),
  failureBackoffMs: z.number().int().min(0).default(5_000),
});
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesInterface: Same<keyof z.input<typeof optionsSchema>, keyof AccessIdentityGroupSourceOptions> = true;
void schemaMatchesInterface;

/** An identity with a few dozen groups is a few kilobytes; device posture can add some. */
const MAX_IDENTITY_BYTES = 512 * 1024;
/** Groups as Cloudflare's get-identity reports them (read by Cloudflare from the IdP at login). */
const SOURCE_KIND: GroupSourceKind = 'cloudflare';
/** Cloudflare's get-identity lists each group's id and name (`{ id, name, email? }`, workerd's typing); mails only when present. */
const FIELDS: readonly GroupField[] = Object.freeze(['id', 'name']);
const COMPLETE: GroupMembership = Object.freeze({ state: 'complete', source: SOURCE_KIND, fields: FIELDS });
const ABSENT: GroupMembership = Object.freeze({ state: 'absent' });

/** A failure of one lookup: its code, why, and whether it is an outage (which starts the backoff). */
class LookupFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly outage: boolean,
  ) {
    super(message);
  }
}

interface Cached {
  resolution: GroupResolution;
  expiresAt: number;
}

/**
 * A group source that asks Cloudflare for the user's identity: `GET <teamDomain>/cdn-cgi/access/get-identity`
 * with `Cookie: CF_Authorization=<assertion>` (Cloudflare's "Application token" reference, and its Pages plugin),
 * and answers its `groups` (`[{ id, name, email? }]`: for Entra, the group object ids and display names, the
 * nested ones included, as Cloudflare resolved them at login) as `complete`, fields `id` and `name`.
 *
 * The assertion comes from the context: `context.accessAssertion`, else `context.claims[ACCESS_ASSERTION]`,
 * which the Access verifier sets on the claims it verified (so `gate.resolveIdentity(identity, { claims })`
 * reaches it with no other wiring). Answers are cached per `identity_nonce` and user (bounded LRU, `ttlMs`),
 * concurrent lookups of one share a single call, and the call has a hard deadline, its body included.
 *
 * INVARIANT: it never answers "no groups" when it does not know. `unknown` with a code instead:
 * - get-identity down, slow, redirecting, not JSON, or the wrong shape (a group without a string `id` and
 *   `name`), or the identity of another user (`user_uuid` not the token's `sub`, or another email), or no
 *   assertion in the context → `ERR_ACCESS_IDENTITY_UNAVAILABLE` (503);
 * - a login through another login method than `idpId` → `ERR_ACCESS_IDENTITY_IDP_MISMATCH` (403).
 * An answer without `groups` at all (a login method that does not send them) is `absent`: a chain moves on.
 *
 * What it does NOT do: it sends the assertion nowhere but the configured team domain, never to a URL from a
 * token; it does not verify the assertion (the verifier did); it does not expand groups further (Cloudflare's
 * Entra groups are transitive already).
 *
 * @example
 * ```ts
 * import { createAccessIdentityGroupSource, createAccessVerifier, createGate } from 'entragate';
 * declare const idp: Parameters<typeof createGate>[0]['idp'];
 * declare const assertion: string;
 *
 * const access = createAccessVerifier({ teamDomain: 'contoso', aud: process.env.ACCESS_AUD! });
 * const gate = createGate({ idp, groups: createAccessIdentityGroupSource({ teamDomain: 'contoso' }), tokenGroups: 'ignore' });
 * const result = await access.verify(assertion);
 * if (result.kind === 'user') {
 *   const identity = await gate.resolveIdentity(result.identity, { claims: result.claims });
 *   console.log(identity.membership.state, identity.groups.map((g) => g.name));
 * }
 * ```
 */
export function createAccessIdentityGroupSource(options: AccessIdentityGroupSourceOptions): GroupSource {
  const o = parseWith(optionsSchema, options, 'cloudflare get-identity group source');
  const teamDomain = normalizeTeamDomain(o.teamDomain, 'cloudflare get-identity group source');
  const url = `${teamDomain}/cdn-cgi/access/get-identity`;
  const doFetch = o.fetch ?? globalThis.fetch;
  const now = o.now ?? Date.now;
  const cache = new LRUCache<string, Cached>({ max: o.maxEntries });
  const inflight = new Map<string, Promise<GroupResolution>>();
  let outageUntil = 0;
  let lastOutage = '';

  async function lookup(assertion: string, identity: Identity): Promise<GroupResolution> {
    const started = now();
    let answer: unknown;
    try {
      answer = await fetchJson({
        fetch: doFetch,
        url,
        timeoutMs: o.timeoutMs,
        maxBytes: MAX_IDENTITY_BYTES,
        what: 'get-identity',
        // The assertion goes in the cookie only; no message below repeats a header.
        headers: { cookie: `${ACCESS_COOKIE}=${assertion}` },
        fail: (message, info = {}) => Object.assign(new GroupsError('ERR_ACCESS_IDENTITY_UNAVAILABLE', message), { upstream: info.status }),
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : 'get-identity failed';
      const upstream = (error as { upstream?: unknown }).upstream;
      // A 4xx (but a 429) is about this assertion (Cloudflare refused it), not an outage of get-identity for all.
      const outage = !(typeof upstream === 'number' && upstream >= 400 && upstream < 500 && upstream !== 429);
      throw new LookupFailure('ERR_ACCESS_IDENTITY_UNAVAILABLE', message, outage);
    }
    const resolution = readIdentity(answer, identity, o.idpId);
    if (channel.hasSubscribers) channel.publish({ ok: true, ms: now() - started, groups: resolution.groups.length });
    return resolution;
  }

  function run(key: string, assertion: string, identity: Identity): Promise<GroupResolution> {
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    // INVARIANT: the single flight settles and clears within its own deadline, whatever the fetch does.
    const flight = settleWithin(
      lookup(assertion, identity),
      o.timeoutMs + 1_000,
      () => new LookupFailure('ERR_ACCESS_IDENTITY_UNAVAILABLE', 'get-identity timed out', true),
    )
      .then(
        (resolution) => {
          cache.set(key, { resolution, expiresAt: now() + o.ttlMs });
          return resolution;
        },
        (error: unknown) => {
          const failure = error instanceof LookupFailure ? error : new LookupFailure('ERR_ACCESS_IDENTITY_UNAVAILABLE', 'get-identity failed', true);
          if (failure.outage && o.failureBackoffMs > 0) {
            outageUntil = now() + o.failureBackoffMs;
            lastOutage = failure.message;
          }
          if (channel.hasSubscribers) channel.publish({ ok: false, code: failure.code, message: failure.message });
          return unknownResolution(failure.code, failure.message);
        },
      )
      .finally(() => {
        inflight.delete(key);
      });
    inflight.set(key, flight);
    return flight;
  }

  return {
    name: 'cloudflare-access',
    fields: FIELDS,
    resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      const assertion = assertionOf(context);
      if (assertion === undefined) {
        return Promise.resolve(
          unknownResolution(
            'ERR_ACCESS_IDENTITY_UNAVAILABLE',
            'no verified Cloudflare Access assertion in the group source context: get-identity cannot be asked',
          ),
        );
      }
      const nonce = typeof context.claims.identity_nonce === 'string' ? context.claims.identity_nonce : '';
      // One entry per login (`identity_nonce`) and user: the nonce is Cloudflare's own cache key for the identity.
      // Without a nonce the assertion's signature stands in (one entry per assertion).
      const key = `${nonce === '' ? `assertion:${assertion.slice(-43)}` : `nonce:${nonce}`}\n${identity.user_uuid}`;
      const t = now();
      const hit = cache.get(key);
      if (hit !== undefined) {
        if (t < hit.expiresAt) return Promise.resolve(hit.resolution);
        cache.delete(key);
      }
      // INVARIANT: during an outage backoff a miss answers unknown at once (503), never "no groups".
      if (t < outageUntil && !inflight.has(key)) {
        return Promise.resolve(
          unknownResolution('ERR_ACCESS_IDENTITY_UNAVAILABLE', `get-identity is failing (${lastOutage}): not asked again before the backoff ends`),
        );
      }
      return run(key, assertion, identity);
    },
  };
}

function assertionOf(context: GroupSourceContext): string | undefined {
  const own = (context as AccessGroupSourceContext).accessAssertion;
  if (typeof own === 'string' && own.length > 0) return own;
  const carried = (context.claims as Record<PropertyKey, unknown>)[ACCESS_ASSERTION];
  return typeof carried === 'string' && carried.length > 0 ? carried : undefined;
}

/**
 * Reads get-identity's answer with hand-written guards (no zod per request). Its `groups` are
 * `[{ id, name, email? }]` (workerd's `CloudflareAccessIdentity`, "matches the result of calling
 * /cdn-cgi/access/get-identity"); the Pages plugin's `groups: string[]` is outdated for Entra and
 * refused here as the wrong shape.
 */
function readIdentity(answer: unknown, identity: Identity, idpId: string | undefined): GroupResolution {
  const bad = (why: string): LookupFailure => new LookupFailure('ERR_ACCESS_IDENTITY_UNAVAILABLE', `get-identity answered ${why}`, false);
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw bad('something other than a JSON object');
  const a = answer as Record<string, unknown>;
  // INVARIANT: the answer is about this token's user, or it is not an answer: Cloudflare's `user_uuid` is
  // the token's `sub`, and an email, when both have one, is the same.
  if (a.user_uuid !== identity.user_uuid) throw bad(`for another user (\`user_uuid\` is not the assertion's \`sub\` ${quoteId(identity.user_uuid)})`);
  if (typeof a.email === 'string' && identity.email !== '' && a.email.toLowerCase() !== identity.email.toLowerCase()) {
    throw bad("for another user (another `email` than the assertion's)");
  }
  if (idpId !== undefined) {
    const idp = a.idp;
    const id = typeof idp === 'object' && idp !== null ? (idp as { id?: unknown }).id : undefined;
    if (id !== idpId) {
      throw new LookupFailure(
        'ERR_ACCESS_IDENTITY_IDP_MISMATCH',
        `the user signed in through login method ${typeof id === 'string' ? quoteId(id) : '(none)'}, not the Entra login method ${quoteId(idpId)}: their groups are not known`,
        false,
      );
    }
  }
  if (a.groups === undefined) return { groups: [], membership: ABSENT };
  if (!Array.isArray(a.groups)) throw bad('`groups` that is not an array');
  const seen = new Set<string>();
  const groups: GroupRef[] = [];
  for (const g of a.groups as unknown[]) {
    if (typeof g !== 'object' || g === null) throw bad('a group that is not an object');
    const { id, name, email } = g as Record<string, unknown>;
    if (typeof id !== 'string' || id.length === 0 || typeof name !== 'string') throw bad('a group without a string `id` and `name`');
    if (email !== undefined && email !== null && typeof email !== 'string') throw bad('a group `email` that is not a string');
    if (seen.has(id)) continue;
    seen.add(id);
    const ref: GroupRef = typeof email === 'string' && email.length > 0 ? { id, name, email } : { id, name };
    groups.push(Object.freeze(ref) as GroupRef);
  }
  return Object.freeze({ groups: Object.freeze(groups) as GroupRef[], membership: COMPLETE });
}
