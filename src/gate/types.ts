/**
 * The gate's public interface and the shapes its methods take.
 */
import type { CloudHosts } from '../config/clouds.js';
import type { IdpConfig } from '../config/idp.js';
import type { VerifiedToken, VerifyOptions } from '../token/verifier.js';
import type { Identity, RequestContext } from '../types.js';
import type { GroupSource } from '../groups/types.js';
import type { RevocationList } from '../session/revocation.js';
import type { AccessVerifier } from '../cloudflare/verifier.js';
import type { AccessAssertion } from '../cloudflare/types.js';
import type { Decision } from '../policy/types.js';

/** Per-request inputs of `authorize`: the request attributes, and which policies decide. */
export interface AuthorizeContext extends RequestContext {
  /** The Access application whose policies decide. Default: the only one configured. */
  application?: string;
  /** Decide with the Gateway rules instead of an application's Access policies. */
  gateway?: boolean;
  /** The user's delegated Graph token (from the login flow), for the Graph group source. */
  graphToken?: string;
  /**
   * The session the identity comes from, when it came from one: an allowing decision is refused with
   * `ERR_SESSION_EXPIRED` when the session is older than the session duration of the deciding policy
   * (Cloudflare's precedence: policy, application, global), so a policy's shorter duration holds on
   * every request, not only in the cookie. `application` is the one the session was issued for.
   */
  session?: { issuedAt: number; application?: string | undefined };
}

/** Options of {@link Gate.identify}. */
export interface IdentifyOptions {
  /** The user's delegated Graph token (from the login flow), for the Graph group source. */
  graphToken?: string;
  /** The Access application the token is presented to: its `revokeApp` revocations apply. */
  application?: string;
}

/** What the identity pipeline needs besides the identity. */
export interface ResolveContext {
  /** The verified claims the identity came from (a session keeps the few the sources read). */
  claims: Readonly<Record<string, unknown>>;
  /** The user's delegated Graph token, when the app has one. */
  graphToken?: string;
}

/** A credential to check against the revocations: who it names and when it was issued. */
export interface CredentialRef {
  /** Lower-cased subjects (`oid`, `sub`, email, UPN). See {@link Gate.subjectsOf}. */
  subjects: readonly string[];
  /** Issued-at, Unix seconds. */
  issuedAt: number;
  /** The app AUD tag whose `revokeApp` applies, if any. */
  appId?: string;
  /** The user's id, for the `entragate:session:revoked` diagnostics message (never an email). */
  userId?: string;
}

/** An Access application as the gate compiled it. */
export interface GateApplication {
  /** The application's key in the gate's `applications` option (what `protect({ application })` names). */
  name: string;
  /** The application's AUD tag: its `aud` option, else its name. Sessions the login issues for it carry it as `aud`. */
  aud: string;
  /**
   * The application's session duration as configured (a Go duration such as `"24h"`; `"24h"` when not given).
   * A deciding policy's own `session_duration` takes precedence over it.
   */
  session_duration: string;
}

/** The framework-free core: verifies tokens, resolves groups, and decides. */
export interface Gate {
  /** The validated identity-provider configuration. */
  readonly idp: IdpConfig;
  /** The authority and Graph hosts in use. */
  readonly hosts: CloudHosts;
  /**
   * Verifies an Entra ID token (ID or access token, v1 or v2) and returns its identity,
   * with `membership` as the token states it (complete, absent or overage). Rejects with
   * a `TokenError` (401-class) or a `JwksError` (503 when keys cannot be fetched).
   * It does not look up groups beyond the token: see `identify`.
   */
  verify(token: string, options?: VerifyOptions): Promise<Identity>;
  /** Like `verify`, and also returns the verified claims (frozen). */
  verifyToken(token: string, options?: VerifyOptions): Promise<VerifiedToken>;
  /**
   * The identity pipeline for a bearer token: verifies it, refuses it when it was issued before a
   * revocation of its user or application (`ERR_SESSION_REVOKED`; 503 when the revocations cannot be
   * read), then {@link resolveIdentity}. Never throws for a group failure: the identity then
   * carries `membership: { state: 'unknown', reason, code }` and decisions fail closed.
   */
  identify(token: string, options?: IdentifyOptions): Promise<Identity>;
  /** Like `identify`, and also returns the verified claims (frozen). */
  identifyToken(token: string, options?: IdentifyOptions): Promise<VerifiedToken>;
  /** The Cloudflare Access verifier (option `cloudflareAccess`), when Cloudflare is in front. */
  readonly cloudflareAccess: AccessVerifier | undefined;
  /**
   * The identity pipeline for a Cloudflare Access assertion: verifies it, requires the AUD tag of the
   * `application` it is presented to (when that application sets `aud`), and for a user applies the
   * revocations and {@link resolveIdentity}; a service-token assertion is returned as is (never a user).
   * Rejects with `ERR_CONFIG_INVALID` when `cloudflareAccess` is not configured.
   */
  identifyAccess(assertion: string, options?: IdentifyOptions): Promise<AccessAssertion>;
  /**
   * The one answer to "who is this user and what are their groups", shared by bearer tokens, the login
   * callback and every session request (`entragate/login` calls it):
   *
   * 1. every source that keeps a directory judges the user: one the directory holds as inactive or
   *    deleted is refused (`ERR_DIRECTORY_USER_INACTIVE`, 403), a directory that cannot say fails
   *    closed (503); a user it does not hold is not refused here;
   * 2. with `tokenGroups: 'prefer'`, a complete `groups` claim is the membership; otherwise the sources
   *    answer (nested groups included), `unknown` when they cannot.
   *
   * `identity.membership` must be the token's own (as `verify` returned it). The result is the same
   * object for the same input while the sources give the same answer, so decisions stay cached.
   */
  resolveIdentity(identity: Identity, context: ResolveContext): Promise<Identity>;
  /** The revocations every credential is checked against (option `revocations`). */
  readonly revocations: RevocationList;
  /**
   * Refuses a credential issued before (or within the clock tolerance after) a revocation of its
   * subjects or its app: throws `ERR_SESSION_REVOKED` (401), or `ERR_STORE_UNAVAILABLE` (503) when the
   * revocations cannot be read. Returns nothing when the credential stands.
   */
  assertNotRevoked(credential: CredentialRef): void;
  /** The lower-cased subjects a revocation may name for an identity: `oid`, `sub`, the email and the UPN claims. */
  subjectsOf(identity: Identity, claims?: Readonly<Record<string, unknown>>): readonly string[];
  /** Clock tolerance in seconds (option `clockTolerance`), applied to token lifetimes and to revocations. */
  readonly clockTolerance: number;
  /** The group source (or chain) the pipeline asks, as configured in `groups`. */
  readonly groups: GroupSource | undefined;
  /** The clock the gate reads, in ms (option `now`); the login reads it too unless given its own. */
  readonly now: () => number;
  /**
   * Cloudflare's `scim_config.identity_update_behavior` of the IdP (`group_member_deprovision: true`
   * reads as `reauth`): what a SCIM change does to live sessions. @defaultValue `no_action`
   */
  readonly identityUpdateBehavior: 'automatic' | 'reauth' | 'no_action';
  /**
   * Problems found at construction that do not stop the gate but deserve a look, e.g. a Gateway rule
   * that reads a group field no configured source supplies (it can only be unknown). Also published
   * on the `entragate:gate:warning` diagnostics channel.
   */
  readonly warnings: readonly string[];
  /**
   * Decides a request with Cloudflare's semantics: an application's Access policies
   * (default) or the Gateway rules (`{ gateway: true }`). `input` is a token (verified and
   * identified first), an identity, or `null` for a request without a login (service
   * token, mTLS). A deny is a returned decision, not an error; a token that fails
   * verification rejects with its `TokenError`.
   */
  authorize(input: string | Identity | null, context?: AuthorizeContext): Promise<Decision>;
  /** The configured application, or `undefined`. */
  application(name?: string): GateApplication | undefined;
  /**
   * Session length in seconds with Cloudflare's precedence: the deciding policy's `session_duration`,
   * else the application's, else the global one (24 h by default). Without a decision: the application's,
   * else the global one.
   */
  sessionDuration(decision: Decision | undefined, application?: string): number;
  /** Forgets every cached verification. */
  clearTokenCache(): void;
}
