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
import type { DirectoryIndex, DirectoryUser } from '../directory/types.js';
import { ConfigError, EntragateError, StoreError } from '../errors/index.js';
import { createGate, type AuthorizeContext, type Gate, type GateOptions } from '../gate.js';
import type { AccessPolicy, AccessRuleGroup, CheckTrace, Decision, GatewayRule } from '../policy/types.js';
import type { Identity } from '../types.js';
import type { ResourcePage, ResourceQuery } from '../store/types.js';

/** What a review needs of a directory store (`openDirectoryStore` from `entragate/store` has it). */
export interface ReviewStore {
  /** The in-memory directory: users are read from here (groups, standing), one page at a time. */
  readonly index: DirectoryIndex;
  /** The store's users, paged by id so a review holds one page of them at a time. */
  readonly users: { query(query: ResourceQuery): Promise<ResourcePage> };
}

/** A candidate policy set: the shape of the gate's `applications`, `gateway`, `ruleGroups` and `lists` options. */
export interface ReviewCandidate {
  /** Candidate applications by name; an application the review covers but the candidate omits is unchanged. */
  applications?: Record<string, { policies: AccessPolicy[]; session_duration?: string; aud?: string }>;
  /** Candidate Gateway rules; absent: the Gateway rules are unchanged. */
  gateway?: GateOptions['gateway'];
  /** The rule groups the candidate's policies reference. @defaultValue none */
  ruleGroups?: AccessRuleGroup[];
  /** The lists the candidate's policies reference. @defaultValue none */
  lists?: Record<string, string[]>;
}

/** Options of {@link reviewAccess}. */
export interface ReviewOptions {
  /** The gate whose pipeline decides: its groups must come from the directory (`createDirectoryGroupSource({ store })`). */
  gate: Gate;
  /** The directory store the users come from. */
  store: ReviewStore;
  /** The Access application(s) to review. Give this, `gateway`, or both. */
  application?: string | readonly string[];
  /** Review the Gateway rules too. @defaultValue false */
  gateway?: boolean;
  /** A candidate policy set (JSON), or a gate built with it: the difference per user. */
  candidate?: ReviewCandidate | Gate;
  /** Users read per page from the store. @defaultValue 1000 */
  pageSize?: number;
  /** Called after each page with the users reviewed so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** The three answers of a review. */
export type ReviewOutcome = 'allowed' | 'denied' | 'conditional';

/** One decision of a review. */
export interface ReviewDecision {
  /** `allowed`, `denied`, or `conditional` (it depends on the request). */
  readonly outcome: ReviewOutcome;
  /** The deciding policy; for `conditional`, the first policy that might decide; absent for the default deny or a refusal. */
  readonly policy?: string;
  /** The decision's action (`allow`, `deny`, `bypass`, `non_identity`, a Gateway action), or `refused`. */
  readonly action: string;
  /** Why, in words: the decision's reason, or the pipeline's refusal (an inactive user). */
  readonly reason: string;
  /** The error code of a refusal (`ERR_DIRECTORY_USER_INACTIVE`). */
  readonly code?: string;
  /** For `conditional`: the request attributes the decision turns on (`ip`, `geo`, `certificate`, `device_posture`, `auth_context`, `http`). */
  readonly attributes: readonly string[];
}

/** How a user's access changes under the candidate. */
export type ReviewChange = 'gain' | 'loss' | 'policy';

/** One user, one application (or the Gateway). */
export interface ReviewRow {
  /** The directory (SCIM) id. */
  readonly userId: string;
  /** The SCIM `userName` (as sent: print it escaped). */
  readonly userName: string;
  /** The SCIM `displayName`, when set. */
  readonly displayName?: string;
  /** The first of the user's emails, when any. */
  readonly email?: string;
  /** Whether the directory holds the user as active (an inactive user is refused by the pipeline). */
  readonly active: boolean;
  /** The application name, or `gateway`. */
  readonly target: string;
  /** The decision of the enforced policies. */
  readonly current: ReviewDecision;
  /** With a candidate: its decision. */
  readonly candidate?: ReviewDecision;
  /**
   * With a candidate: `gain` (more access: denied → conditional or allowed, conditional → allowed), `loss`
   * (the reverse), `policy` (same outcome, another deciding policy); absent when nothing changes.
   */
  readonly change?: ReviewChange;
}

/** Counts of the three outcomes. */
export interface OutcomeCounts {
  /** Users allowed on their directory identity alone. */
  allowed: number;
  /** Users denied (refusals included). */
  denied: number;
  /** Users whose decision depends on the request. */
  conditional: number;
}

/** What one application (or the Gateway) gives, in totals and per deciding policy. */
export interface TargetSummary {
  /** The application name, or `gateway`. */
  readonly target: string;
  /** The enforced policies' counts. */
  readonly current: OutcomeCounts;
  /** The candidate's counts, with a candidate. */
  readonly candidate?: OutcomeCounts;
  /** Per deciding policy (`(default deny)`, `(refused: ERR_…)` for those without one), current set. */
  readonly policies: readonly ({ policy: string } & OutcomeCounts)[];
  /** Rows whose change is `gain`. */
  readonly gains: number;
  /** Rows whose change is `loss`. */
  readonly losses: number;
  /** Rows whose change is `policy` (same outcome, another deciding policy). */
  readonly policyChanges: number;
}

/** The result of {@link reviewAccess}. */
export interface AccessReview {
  /** ISO 8601, from the gate's clock. */
  readonly generatedAt: string;
  /** Users reviewed (each once, whatever the number of targets). */
  readonly users: number;
  /** Per application (and the Gateway), in the order asked. */
  readonly targets: readonly TargetSummary[];
  /** Every user × target, in the store's id order. */
  readonly rows: readonly ReviewRow[];
  /** Whether a candidate was compared. */
  readonly hasCandidate: boolean;
}

interface Target {
  name: string;
  context: AuthorizeContext;
  candidate: Gate | undefined;
  candidateContext: AuthorizeContext;
  /** Filled by the contexts' `onUndecided` during one decision (the review decides one at a time). */
  undecided: PolicyRef[];
}

const DEFAULT_DENY = '(default deny)';

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
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid review: the gate has no group source; give it the directory (`groups: createDirectoryGroupSource({ store })`) so the review decides on directory identities');
  }
  const pageSize = options.pageSize ?? 1000;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid review: `pageSize` must be a whole number from 1 to 100000');
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
        refusal = refused('ERR_DIRECTORY_USER_UNKNOWN', 'another directory user holds this user\'s object id, userName or email: a sign-in would not resolve to this user');
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

/** Accumulates the per-target counts of rows (used by {@link reviewAccess}, and by a caller streaming the rows). */
export function createReviewSummary(): { add(row: ReviewRow): void; targets(): TargetSummary[] } {
  const byTarget = new Map<string, { current: OutcomeCounts; candidate?: OutcomeCounts; policies: Map<string, OutcomeCounts>; gains: number; losses: number; policyChanges: number }>();
  return {
    add(row) {
      let t = byTarget.get(row.target);
      if (t === undefined) byTarget.set(row.target, (t = { current: zero(), policies: new Map(), gains: 0, losses: 0, policyChanges: 0 }));
      t.current[row.current.outcome]++;
      const key = policyKey(row.current);
      let p = t.policies.get(key);
      if (p === undefined) t.policies.set(key, (p = zero()));
      p[row.current.outcome]++;
      if (row.candidate !== undefined) (t.candidate ??= zero())[row.candidate.outcome]++;
      if (row.change === 'gain') t.gains++;
      else if (row.change === 'loss') t.losses++;
      else if (row.change === 'policy') t.policyChanges++;
    },
    targets() {
      return [...byTarget].map(([target, t]) => ({
        target,
        current: t.current,
        ...(t.candidate === undefined ? {} : { candidate: t.candidate }),
        policies: [...t.policies].map(([policy, counts]) => ({ policy, ...counts })),
        gains: t.gains,
        losses: t.losses,
        policyChanges: t.policyChanges,
      }));
    },
  };
}

/** The label a decision is counted under: its policy, the default deny, or the refusal. */
export function policyKey(decision: ReviewDecision): string {
  if (decision.policy !== undefined) return decision.policy;
  if (decision.code !== undefined) return `(refused: ${decision.code})`;
  return DEFAULT_DENY;
}

const zero = (): OutcomeCounts => ({ allowed: 0, denied: 0, conditional: 0 });

const RANK: Record<ReviewOutcome, number> = { denied: 0, conditional: 1, allowed: 2 };

function changeOf(current: ReviewDecision, candidate: ReviewDecision): ReviewChange | undefined {
  if (RANK[candidate.outcome] > RANK[current.outcome]) return 'gain';
  if (RANK[candidate.outcome] < RANK[current.outcome]) return 'loss';
  return policyKey(current) === policyKey(candidate) ? undefined : 'policy';
}

function refused(code: string, reason: string): ReviewDecision {
  return Object.freeze({ outcome: 'denied', action: 'refused', reason, code, attributes: Object.freeze([]) as readonly string[] });
}

function buildTargets(options: ReviewOptions): Target[] {
  const names = options.application === undefined ? [] : typeof options.application === 'string' ? [options.application] : [...options.application];
  if (names.length === 0 && options.gateway !== true) throw new ConfigError('ERR_CONFIG_INVALID', 'invalid review: give `application` (one or several) or `gateway: true`');
  for (const name of names) {
    if (options.gate.application(name) === undefined) throw new ConfigError('ERR_CONFIG_INVALID', `invalid review: the gate has no application \`${name}\``);
  }
  const candidate = options.candidate;
  let candidateGate: Gate | undefined;
  let candidateApps: ReadonlySet<string> = new Set();
  let candidateGateway = false;
  if (candidate !== undefined && isGate(candidate)) {
    candidateGate = candidate;
    candidateApps = new Set(names.filter((n) => candidate.application(n) !== undefined));
    candidateGateway = options.gateway === true;
  } else if (candidate !== undefined) {
    const apps = candidate.applications ?? {};
    // The candidate is compiled the way the gate compiles its own options (same IdP: `login_method`,
    // `auth_context` and conditional access read as in the enforced set); a bad candidate throws here.
    candidateGate = createGate({
      idp: options.gate.idp as GateOptions['idp'],
      applications: apps,
      ...(candidate.gateway === undefined ? {} : { gateway: candidate.gateway }),
      ruleGroups: candidate.ruleGroups ?? [],
      lists: candidate.lists ?? {},
      now: options.gate.now,
    });
    candidateApps = new Set(names.filter((n) => Object.hasOwn(apps, n)));
    candidateGateway = candidate.gateway !== undefined;
  }
  const target = (name: string, where: AuthorizeContext, candidateGateFor: Gate | undefined): Target => {
    const undecided: PolicyRef[] = [];
    const context: AuthorizeContext = { ...where, unknownRequestAttributes: true, onUndecided: (ref) => undecided.push(ref) };
    return { name, context, candidate: candidateGateFor, candidateContext: context, undecided };
  };
  // An application the candidate omits is unchanged: the enforced set answers for it.
  const targets: Target[] = names.map((name) =>
    target(name, { application: name }, candidateGate === undefined ? undefined : candidateApps.has(name) ? candidateGate : options.gate),
  );
  if (options.gateway === true) targets.push(target('gateway', { gateway: true }, candidateGate === undefined ? undefined : candidateGateway ? candidateGate : options.gate));
  return targets;
}

function isGate(value: ReviewCandidate | Gate): value is Gate {
  return typeof (value as Gate).authorize === 'function' && typeof (value as Gate).resolveIdentity === 'function';
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

/** The request attribute a trace check read, as the review names it. */
function attributeName(check: CheckTrace): string | undefined {
  const a = check.attribute;
  if (a === 'context.ip') return 'ip';
  if (a === 'context.country') return 'geo';
  if (a === 'context.certificate') return 'certificate';
  if (a === 'context.devicePosture') return 'device_posture';
  if (a.startsWith('http.') || a.startsWith('context.request')) return 'http';
  return undefined;
}

/** What an undecided policy turns on: the request attributes its unknown checks read, or an unknown group. */
interface Undecided {
  attributes: readonly string[];
  membership: boolean;
}

function collect(checks: readonly CheckTrace[], out: Set<string>, membership: { unknown: boolean }): void {
  for (const check of checks) {
    if (check.result === 'unknown') {
      const name = attributeName(check);
      if (name !== undefined) out.add(name);
      else if (check.children === undefined || check.children.length === 0) membership.unknown = true;
    }
    if (check.children !== undefined) collect(check.children, out, membership);
  }
}

/**
 * Per compiled policy (its ref object, unique per compiled set), what it turns on. Under
 * `unknownRequestAttributes` a request rule is unknown for every user, and an identity rule is never unknown
 * with the directory's complete membership, so the answer is the same for every user: it is read once from
 * a trace, not rebuilt per user (a trace of 1,000 policies per conditional user would dominate the review).
 */
const undecidedCache = new WeakMap<object, Undecided>();

type PolicyRef = Parameters<NonNullable<AuthorizeContext['onUndecided']>>[0];

async function decide(gate: Gate, identity: Identity, context: AuthorizeContext, undecided: PolicyRef[]): Promise<ReviewDecision> {
  undecided.length = 0;
  const decision: Decision = await gate.authorize(identity, context);
  const base = { action: decision.action, ...(decision.policy === undefined ? {} : { policy: decision.policy.name }) };
  if (decision.allowed) return Object.freeze({ outcome: 'allowed', ...base, reason: decision.reason, attributes: NONE });
  if (identity.membership.state !== 'complete') {
    const reason = identity.membership.state === 'unknown' ? `membership unknown: ${identity.membership.reason}` : decision.reason;
    return Object.freeze({ outcome: 'denied', ...base, reason, attributes: NONE });
  }
  const attributes = new Set<string>();
  let membershipUnknown = false;
  if (decision.reason === 'unknown-membership' || decision.reason === 'unknown-request') {
    if (decision.kind === 'access' && undecided.length > 0) {
      if (undecided.some((ref) => !undecidedCache.has(ref))) {
        // One trace fills the cache for every undecided policy of this decision.
        const byKey = new Map(undecided.map((ref) => [`${ref.precedence}\u0000${ref.name}`, ref]));
        for (const entry of decision.trace) {
          const ref = byKey.get(`${entry.policy.precedence}\u0000${entry.policy.name}`);
          if (ref === undefined || entry.result !== 'unknown') continue;
          const found = new Set<string>();
          const m = { unknown: false };
          collect(entry.checks, found, m);
          undecidedCache.set(ref, { attributes: [...found], membership: m.unknown || found.size === 0 });
        }
      }
      for (const ref of undecided) {
        const u = undecidedCache.get(ref) ?? { attributes: [], membership: true };
        for (const a of u.attributes) attributes.add(a);
        if (u.membership) membershipUnknown = true;
      }
    } else {
      // Gateway: the trace names the unknown fields (`http.*` without a request).
      const m = { unknown: false };
      for (const entry of decision.trace) if (entry.result === 'unknown') collect(entry.checks, attributes, m);
      membershipUnknown = m.unknown;
      if (decision.reason === 'unknown-request' && attributes.size === 0) attributes.add('http');
    }
  }
  const missing = decision.kind === 'access' ? decision.missingAuthContext : undefined;
  if (missing !== undefined && missing.length > 0) attributes.add('auth_context');
  // INVARIANT: a decision that an unknown group could turn is no "depends on the request": it is denied, and says so.
  if (attributes.size === 0 || membershipUnknown) return Object.freeze({ outcome: 'denied', ...base, reason: decision.reason, attributes: NONE });
  const policy = decision.policy?.name ?? undecided[0]?.name;
  return Object.freeze({
    outcome: 'conditional',
    action: decision.action,
    ...(policy === undefined ? {} : { policy }),
    reason: `depends on the request: ${[...attributes].sort().join(', ')}`,
    attributes: Object.freeze([...attributes].sort()) as readonly string[],
  });
}

const NONE: readonly string[] = Object.freeze([]);
