/**
 * Shared, framework-free types. This file is pure (no `node:` imports) so the
 * policy evaluator and the directory index can depend on it.
 */

/** A group as Cloudflare's get-identity returns it: the Entra Object Id, and the name and mail when known. */
export interface GroupRef {
  /** Entra group Object Id (a GUID). */
  id: string;
  /** Display name, when a source knew it (Graph, SCIM). */
  name?: string;
  /** Group mail, when mail-enabled. */
  email?: string;
}

/** Where a set of groups came from. */
export type GroupSourceKind = 'token' | 'graph' | 'directory' | 'cloudflare' | 'static';

/**
 * A field of a group a policy can read: its Object Id, its display name, its mail. A source states which
 * it supplies: the token's `groups` claim carries ids only; Microsoft Graph supplies all three; the SCIM
 * directory ids and names (and a group's mail only where SCIM sent one).
 */
export type GroupField = 'id' | 'name' | 'email';

/**
 * What is known about a user's group membership.
 *
 * - `complete`: `groups` is the whole transitive membership (from `source`). `fields` lists the group
 *   fields known for every group; a value a group carries on another field is a known fact about that
 *   group, but its absence says nothing. Absent `fields` means `['id']` (fail closed: names and mails
 *   are unknown unless a source says it supplies them).
 * - `absent`: the token carried no `groups` claim and no overage marker (the app does
 *   not emit groups). Nothing is known; group selectors are unknown.
 * - `overage`: the token said the user has too many groups to list (`_claim_names.groups`
 *   or `hasgroups`). A group source must resolve it; until then selectors are unknown.
 * - `unknown`: a source tried and failed; `reason` and `code` say why.
 *
 * INVARIANT: only `complete` lets a group selector answer "not a member", and only for a field in
 * `fields`: a comparison on a field the source did not supply is unknown, never false.
 */
export type GroupMembership =
  | { state: 'complete'; source: GroupSourceKind; fields?: readonly GroupField[] }
  | { state: 'absent' }
  | { state: 'overage'; signal: 'claim_names' | 'hasgroups' }
  | { state: 'unknown'; reason: string; code: string };

/** The identity provider an identity came from, as in Cloudflare's get-identity. */
export interface IdpRef {
  /** The IdP id from the configuration (Cloudflare's IdP uuid), or `azureAD` when none was given. */
  id: string;
  /** Always `azureAD`: Cloudflare's IdP type for Entra ID, the only provider entragate verifies. */
  type: 'azureAD';
}

/**
 * A verified user, shaped like Cloudflare's get-identity, plus the Entra ids and
 * the state of group membership.
 */
export interface Identity {
  /** Resolved as Cloudflare does: `email_claim_name`, else `email`, else `upn` / `preferred_username` / `unique_name`. Empty when none. */
  email: string;
  /**
   * The user's display name, from the token's `name` claim (issued with the `profile` scope). Absent when the
   * token has none or it is empty. Mutable and not unique: for display, never for a policy decision.
   */
  name?: string;
  /** A stable user id: `oid` when the token has one, else `sub`. */
  user_uuid: string;
  /** The configured IdP this identity was verified against (shared by every identity of that IdP, frozen). */
  idp: IdpRef;
  /** RFC 8176 authentication methods (`pwd`, `mfa`, …). */
  amr: string[];
  /** Transitive groups when `membership.state` is `complete`; otherwise what is known (may be empty). */
  groups: GroupRef[];
  /**
   * How much `groups` can be trusted: `complete` (from the token's `groups` claim or a group source), `absent`,
   * `overage` or `unknown`. Only `complete` lets a group rule answer "not a member"; see {@link GroupMembership}.
   */
  membership: GroupMembership;
  /** Claims named in the IdP config `claims`, as Cloudflare copies them. */
  oidc_fields: Record<string, unknown>;
  /** Entra object id of the user (empty for tokens without one). */
  oid: string;
  /** Entra tenant id. */
  tid: string;
  /** The token subject (pairwise per app). */
  sub: string;
  /** Issued-at of the token the identity came from (its `iat`, Unix seconds); `0` when the token had none. */
  iat: number;
  /**
   * Expiry of the token the identity came from (its `exp`, Unix seconds). The verifier refuses a token without
   * a numeric `exp`, so `0` appears only in an identity built by hand. Not a session's expiry: a login
   * session lasts as its policy's `session_duration` says, whatever this reads.
   */
  exp: number;
  /** Token version: `1.0` (sts.windows.net) or `2.0`. */
  ver: '1.0' | '2.0';
  /**
   * The Conditional Access authentication contexts the user satisfied (the token's `acrs` claim: `c1`…`c99`),
   * which `auth_context` rules read. Absent when the token has none.
   */
  acrs?: readonly string[];
}

/**
 * How the framework in front of the rules routes a path: which spellings of a path reach the same
 * handler. The adapters fill it from the framework's settings (Express `case sensitive routing` and
 * `strict routing`, Fastify `caseSensitive` and `ignoreTrailingSlash`, …), so that a path rule reads
 * every spelling the framework routes alike as one path. Absent: exact (a path is one spelling).
 */
export interface PathRouting {
  /** The router matches letters regardless of case (`/Admin` reaches `/admin`): the path is lower-cased. @defaultValue false */
  readonly caseInsensitive?: boolean;
  /**
   * The router decodes the path before it matches (find-my-way, Fastify's router), so case-insensitive
   * matching folds decoded non-ASCII letters too: `/%E2%84%AAey` (the Kelvin sign) routes as `/key`.
   * @defaultValue false
   */
  readonly matchesDecoded?: boolean;
  /** `/admin/` reaches what `/admin` reaches: one trailing slash is dropped. @defaultValue false */
  readonly ignoreTrailingSlash?: boolean;
  /** `;` ends the path as `?` does (Fastify's `useSemicolonDelimiter`): what follows is the query. @defaultValue false */
  readonly semicolonDelimiter?: boolean;
}

/**
 * The HTTP request line and host, as Gateway's `http.request.*` fields read
 * them. The adapters fill it for every request; `gate.authorize` callers pass
 * it by hand.
 *
 * @example
 * ```ts
 * import type { HttpRequestAttributes } from 'entragate';
 * const request: HttpRequestAttributes = { method: 'GET', host: 'app.example.com', url: '/orders?page=2' };
 * ```
 */
export interface HttpRequestAttributes {
  /** The method as received (`GET`): `http.request.method`, compared exactly (case-sensitive). */
  method: string;
  /**
   * The host the client asked for (`app.example.com`), as the framework computed it (so its trust-proxy
   * setting applies): `http.request.host`. It is lower-cased and loses any port and trailing dot before it
   * is compared, so `App.Example.com.:8443` reads as `app.example.com`; an IPv6 literal keeps its brackets
   * (`[::1]:3000` reads as `[::1]`).
   */
  host: string;
  /**
   * The request target as received, still percent-encoded (`/orders?page=2`). `http.request.uri.path` is
   * the part before `?` (or `;` with `routing.semicolonDelimiter`), without the fragment, normalised as
   * Cloudflare's edge normalises it and folded as `routing` says; it is unknown when it has no single
   * normalised form (a dot segment, an encoded `/` or `\`, a NUL, bad percent-encoding).
   * `http.request.uri.query` is the part after `?` as received (`""` when there is none), and
   * `http.request.uri.path_and_query` the normalised path plus the query. An absolute-form target
   * (`http://host/orders?page=2`, as a proxy receives it) is read from its path.
   */
  url: string;
  /** How the framework in front routes paths (the adapters fill it): see {@link PathRouting}. @defaultValue exact */
  routing?: PathRouting;
}

/**
 * The request attributes Access re-checks on every request (IP, country,
 * certificate, service token) and Gateway's HTTP fields read. Adapters build
 * it; tests pass it by hand.
 */
export interface RequestContext {
  /** Client IP (IPv4 or IPv6 text form). */
  ip?: string;
  /** ISO 3166-1 alpha-2 country of the client. */
  country?: string;
  /** A client certificate was presented and validated (mTLS). */
  certificate?: { valid: boolean; commonName?: string };
  /** A service token presented and validated by the caller: its id. */
  serviceToken?: { tokenId: string };
  /** Device posture checks that passed (integration uids). */
  devicePosture?: string[];
  /**
   * The HTTP request, for Gateway's `http.request.*` fields. INVARIANT: without it, a comparison on an
   * `http.*` field is unknown, never false: a Block rule that might match denies, an Allow does not allow.
   */
  request?: HttpRequestAttributes;
  /**
   * Decide without knowing the request (an access review): `ip`, `geo`, `certificate`, `common_name` and
   * `device_posture` rules are then unknown rather than unmatched, in the three-valued logic unknown
   * membership uses, so a decision that turns on them is not an allow and its trace says which attributes
   * it read. Service tokens are unaffected. @defaultValue false
   */
  unknownRequestAttributes?: boolean;
  /**
   * Called with each Access policy that might match but cannot be decided (unknown membership, or a request
   * attribute under `unknownRequestAttributes`), in evaluation order, before the decision returns: an
   * access review learns which policies a conditional decision turns on without building the trace.
   * @defaultValue none
   */
  onUndecided?: (policy: { readonly name: string; readonly precedence: number; readonly id?: string }) => void;
}
