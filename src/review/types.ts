/** The public shapes of an access review: its options, a candidate set, and the rows, decisions and summaries it yields. */
import type { DirectoryIndex } from '../directory/types.js';
import type { Gate, GateOptions } from '../gate.js';
import type { AccessPolicy, AccessRuleGroup } from '../policy/types.js';
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
