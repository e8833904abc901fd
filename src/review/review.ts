/**
 * Access reviews: for every user of the SCIM directory, what the policies decide on the user's directory
 * identity — allowed, denied, or conditional (the decision turns on the request: ip, geo, certificate,
 * device posture, an authentication context) — and, with a candidate policy set, what would change.
 *
 * Entra ID's access reviews answer "who can reach this app" for its own assignments
 * (https://learn.microsoft.com/entra/id-governance/access-reviews-overview); Cloudflare Access has no
 * equivalent for its policies. The answer here is exact because it runs the gate's own pipeline: the
 * directory source judges the user (an inactive user is refused, as on every request) and supplies the
 * groups (nested included), then `gate.authorize` decides with the compiled policies, request attributes
 * unknown (`unknownRequestAttributes`: the same three-valued logic as unknown membership).
 */
import { isGuid } from '../config/idp.js';
import { directoryLookup } from '../groups/directory-source.js';
import type { DirectoryUser } from '../directory/types.js';
import { ConfigError, EntragateError, StoreError } from '../errors/index.js';
import type { Identity } from '../types.js';
import { decide, refused } from './decision.js';
import { changeOf, createReviewSummary } from './summary.js';
import { buildTargets } from './targets.js';
import type { AccessReview, ReviewDecision, ReviewOptions, ReviewRow } from './types.js';

export type {
  AccessReview,
  OutcomeCounts,
  ReviewCandidate,
  ReviewChange,
  ReviewDecision,
  ReviewOptions,
  ReviewOutcome,
  ReviewRow,
  ReviewStore,
  TargetSummary,
} from './types.js';
export { createReviewSummary, policyKey } from './summary.js';

/**
 * Reviews every user of the directory (active and inactive, one page of users at a time) against the
 * policies of the given application(s) or the Gateway rules, and against a candidate set when given.
 * Yields one row per user and target, in the store's id order. A directory that cannot answer (a stale
 * store) rejects with its `StoreError`: a review never reports on a directory it cannot read.
 *
 * @example
 * ```ts
 * import { createDirectoryGroupSource, createGate } from 'entragate';
 * import { openDirectoryStore } from 'entragate/store';
 * import { reviewAccessRows } from 'entragate/review';
 * const store = await openDirectoryStore({ driver: 'pglite', dataDir: './.entragate-data' });
 * const gate = createGate({ idp, applications, groups: createDirectoryGroupSource({ store }), tokenGroups: 'ignore' });
 * for await (const row of reviewAccessRows({ gate, store, application: 'portal' })) console.log(row.userName, row.current.outcome);
 * ```
 */
export async function* reviewAccessRows(options: ReviewOptions): AsyncGenerator<ReviewRow> {
  const { gate, store } = options;
  if (gate.groups === undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid review: the gate has no group source; give it the directory (`groups: createDirectoryGroupSource({ store })`) so the review decides on directory identities',
    );
  }
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000)
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid review: `pageSize` must be a whole number from 1 to 100000');
  const targets = buildTargets(options);
  const home = gate.idp.config.directory_id.toLowerCase();
  const idpRef = Object.freeze({ id: gate.idp.id ?? gate.idp.uid ?? 'azureAD', type: 'azureAD' as const });
  const now = Math.floor(gate.now() / 1000);
  let done = 0;
  let startIndex = 1;
  for (;;) {
    const page = await store.users.query({ startIndex, count: pageSize });
    for (const stored of page.resources) {
      const user = store.index.getUser(stored.id);
      // Deleted between the page read and now: no longer a user of the directory.
      if (user === undefined || user.deleted === true) continue;
      const { identity, claims } = directoryIdentity(user, home, idpRef, now);
      let resolved: Identity | undefined;
      let refusal: ReviewDecision | undefined;
      // The directory source's own lookup (the identity is of the home tenant, so every key counts).
      if (store.index.findUser(directoryLookup(identity, claims, true))?.id !== user.id) {
        // A token with this user's keys would be matched to another directory user: not this user's access.
        refusal = refused(
          'ERR_DIRECTORY_USER_UNKNOWN',
          "another directory user holds this user's object id, userName or email: a sign-in would not resolve to this user",
        );
      } else {
        try {
          resolved = await gate.resolveIdentity(identity, { claims });
        } catch (error) {
          // INVARIANT: a directory that cannot say fails the review, never a report of "denied".
          if (error instanceof StoreError || !(error instanceof EntragateError)) throw error;
          refusal = refused(error.code, error.message);
        }
      }
      for (const target of targets) {
        const current = refusal ?? (await decide(gate, resolved!, target.context, target.undecided));
        let candidate: ReviewDecision | undefined;
        if (target.candidate !== undefined) candidate = refusal ?? (await decide(target.candidate, resolved!, target.candidateContext, target.undecided));
        const row: ReviewRow = {
          userId: user.id,
          userName: user.userName,
          ...(user.displayName === undefined ? {} : { displayName: user.displayName }),
          ...(user.emails[0] === undefined ? {} : { email: user.emails[0] }),
          active: user.active,
          target: target.name,
          current,
          ...(candidate === undefined ? {} : { candidate }),
        };
        const change = candidate === undefined ? undefined : changeOf(current, candidate);
        yield change === undefined ? row : { ...row, change };
      }
    }
    done += page.resources.length;
    options.onProgress?.(Math.min(done, page.totalResults), page.totalResults);
    if (page.resources.length < pageSize || done >= page.totalResults) break;
    startIndex += page.resources.length;
  }
}

/**
 * Reviews every user of the directory and summarises: counts per application and per deciding policy,
 * gains, losses and changes of deciding policy under the candidate. See {@link reviewAccessRows} for the
 * rows one at a time (bounded memory for any directory size).
 *
 * @example
 * ```ts
 * import { openDirectoryStore } from 'entragate/store';
 * import { reviewAccess, renderReview } from 'entragate/review';
 * const review = await reviewAccess({ gate, store, application: 'portal', candidate: { applications: { portal: { policies } } } });
 * const gains = review.rows.filter((r) => r.change === 'gain');
 * writeFileSync('review.html', renderReview(review, 'html'));
 * ```
 */
export async function reviewAccess(options: ReviewOptions): Promise<AccessReview> {
  const summary = createReviewSummary();
  const rows: ReviewRow[] = [];
  const users = new Set<string>();
  for await (const row of reviewAccessRows(options)) {
    rows.push(row);
    users.add(row.userId);
    summary.add(row);
  }
  return {
    generatedAt: new Date(options.gate.now()).toISOString(),
    users: users.size,
    targets: summary.targets(),
    rows,
    hasCandidate: options.candidate !== undefined,
  };
}

/** The identity a sign-in of this user would carry, as the directory source matches it. */
function directoryIdentity(user: DirectoryUser, tenant: string, idp: Identity['idp'], now: number): { identity: Identity; claims: Record<string, unknown> } {
  const oid = isGuid(user.externalId) ? user.externalId.toLowerCase() : '';
  const email = user.emails[0] ?? user.userName;
  const identity: Identity = {
    email,
    ...(user.displayName === undefined ? {} : { name: user.displayName }),
    user_uuid: oid || user.id,
    idp,
    amr: [],
    groups: [],
    membership: { state: 'absent' },
    oidc_fields: {},
    oid,
    tid: tenant,
    sub: user.id,
    iat: now,
    exp: now + 3600,
    ver: '2.0',
  };
  return { identity, claims: { preferred_username: user.userName, tid: tenant, ...(oid ? { oid } : {}) } };
}
