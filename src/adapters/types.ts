/**
 * The types every adapter shares: the request view the core reads, what a protected route sees as `auth`,
 * and the outcome the core hands back.
 */
import type { EntragateError } from '../errors/index.js';
import type { AccessTokenClaims } from '../policy/claim-checks.js';
import type { Decision, DecisionPolicyRef, DecisionReason, PolicyTrace } from '../policy/types.js';
import type { GroupMembership, Identity, PathRouting, RequestContext } from '../types.js';

/** Request headers as `node:http` and every Node framework expose them (lower-case names). */
export type NodeHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The small, framework-free view of a request the adapters build: all the core
 * reads. `ip` and `host` are what the framework computed (so its trust-proxy
 * setting applies); `certificate` comes from the TLS socket.
 */
export interface RequestView {
  /** The request method as the framework received it (`GET`, `POST`): Gateway's `http.request.method`, and whether a browser may be sent to the login. */
  method: string;
  /** Path and query as received (`/orders?page=2`). */
  url: string;
  /** The request headers, lower-case names (`req.headers`): the credential (`authorization`, `cookie`, Cloudflare's assertion), `host` and `accept` are read from them. */
  headers: NodeHeaders;
  /**
   * The host the client asked for, as the framework computed it (Express `req.hostname`, Koa
   * `ctx.hostname`, Fastify `request.hostname`: `X-Forwarded-Host` only when the proxy is trusted).
   * When absent or empty the `Host` header (or HTTP/2 `:authority`) is used. A port is dropped.
   */
  host?: string | undefined;
  /** Client IP as the framework computed it (`req.ip`). */
  ip?: string | undefined;
  /** The client certificate of an mTLS connection (see {@link certificateOf}). */
  certificate?: { valid: boolean; commonName?: string } | undefined;
  /**
   * The header lines as received (`req.rawHeaders`: name, value, name, value…), to see a header sent
   * twice: Node keeps only the first `Authorization` in `headers`. Without it, only `headers` is read.
   */
  rawHeaders?: readonly string[] | undefined;
  /**
   * How the framework routes the path, so Gateway path rules read every spelling it routes alike as one
   * (the adapters fill it from the framework's settings; the `routing` option overrides it).
   */
  routing?: PathRouting | undefined;
}

/** How the caller authenticated. */
export type AuthVia = 'bearer' | 'assertion' | 'session' | 'service-token' | 'anonymous';

/**
 * What a protected route sees as `req.auth` (Express), `ctx.state.auth` (Koa) or
 * `request.auth` (Fastify): who the caller is and the decision that let them in.
 */
export interface Auth {
  /** The verified user, or `null` for a request admitted without a login (Bypass, Service Auth). */
  identity: Identity | null;
  /**
   * The allowing decision (Access or Gateway), with its trace; `null` behind `authenticate`, which
   * admits any valid token or session without asking a policy.
   */
  decision: Decision | null;
  /** The raw bearer token when one authenticated the request (for on-behalf-of calls); never logged. */
  token?: string;
  /** How the caller authenticated: a `bearer` token, a Cloudflare `assertion`, a login `session`, a `service-token` alone, or `anonymous` (admitted without a credential). */
  via: AuthVia;
  /** The service token that was presented and validated, if any. */
  serviceToken?: { tokenId: string };
  /**
   * The verified claims of the bearer token (frozen), as express-oauth2-jwt-bearer's `req.auth.payload`:
   * what `requiredScopes`, `requiredRoles` and the other claim checks read. Absent for a session, a
   * Cloudflare assertion or a service token (claim checks then fail closed).
   */
  claims?: Readonly<AccessTokenClaims>;
  /** The bearer token's protected header (frozen: `alg`, `kid`, `typ`…), beside `claims`. */
  header?: Readonly<Record<string, unknown>>;
  /** The request attributes the policies saw (client IP, country, certificate, service token, the HTTP request). */
  context: RequestContext;
}

/** Which policies decide: an Access application's (default: the only one), or the Gateway rules. */
export type ProtectTarget = { application?: string; gateway?: false } | { gateway: true };

/** `authenticate`'s target for {@link Protector}: a valid token or session is enough, no policy decides. */
export interface AuthenticateTarget {
  /** Authenticate only. */
  authenticate: true;
}

/** The JSON body of a 403: the deciding policy and why, never the token or another user's data. */
export interface DenyBody {
  /** Always `access_denied` (the OAuth error name of a 403 deny). */
  error: 'access_denied';
  /** Always `ERR_ACCESS_DENIED`: a policy decision, not a bad credential. */
  code: 'ERR_ACCESS_DENIED';
  /** Why, in a sentence naming the deciding policy or rule (denied by policy `Finance`) or the unknown that failed closed; no user data. */
  message: string;
  /** The deny decision without its trace: Access or Gateway, the action, the reason, and the deciding policy (its id, name and precedence) when one decided. */
  decision: { kind: Decision['kind']; action: string; reason: DecisionReason; policy?: DecisionPolicyRef };
  /** The membership state when it decided (`unknown-membership`). */
  membership?: GroupMembership['state'];
  /** Present only with `exposeTrace: true`. */
  trace?: readonly PolicyTrace[];
}

/** The JSON body of a 401/503 the adapters render when they answer themselves. */
export interface ErrorBody {
  /** The OAuth-style error name: `unauthorized` (no credential), `invalid_token`, `invalid_request`, `insufficient_scope`, `insufficient_claims`, `temporarily_unavailable`, or `error`. */
  error: string;
  /** The stable `ERR_…` code of the refusal (`ERR_TOKEN_EXPIRED`, `ERR_GROUPS_UNAVAILABLE`), as in the README's error table. */
  code: string;
  /** What happened, for a person; for a 5xx a fixed public text (`the identity provider or the directory is unavailable`), the detail kept on the server. Never a token. */
  message: string;
}

/** What the core decided: let the request through, answer it, or send the browser to the login. */
export type ProtectOutcome =
  | { kind: 'allow'; auth: Auth }
  /** `authenticate` with `authRequired: false` and no credential: through, without `auth`. */
  | { kind: 'pass' }
  | {
      kind: 'respond';
      status: number;
      headers: Record<string, string>;
      body: DenyBody | ErrorBody;
      /** Set for 401/5xx: the error adapters hand to the framework's error handling. A 403 deny has none. */
      error?: EntragateError;
    }
  | { kind: 'redirect'; location: string };

/** A compiled `protect`: decides one request view. */
export interface Protector {
  /**
   * Decides one request: reads its credential, resolves the identity through the gate and asks the policies;
   * a refusal (401, 403, 503) or a login redirect is a resolved outcome, never a rejection. Sends nothing:
   * the adapter applies the outcome. Only an error that is not an entragate error (a bug) rejects.
   */
  decide(request: RequestView): Promise<ProtectOutcome>;
  /**
   * Whether an outcome's error goes to the framework's error handling (`next(err)`, a thrown error) rather
   * than being answered with its JSON body by the adapter (see the `errorHandling` option).
   */
  viaFramework(outcome: ProtectOutcome, headers: NodeHeaders): boolean;
}
