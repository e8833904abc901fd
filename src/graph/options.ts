/*
 * The options of `createGraphGroupSource`, written out by hand so an editor shows each one's
 * documentation and default. The zod schema that validates them (in `graph-config.ts`) is internal and
 * checked against these interfaces at compile time. Units: milliseconds `…Ms`.
 */
import type { AzureCloud } from '../config/clouds.js';
import type { AccessTokenCredential, ClientCertificate } from '../credentials/client-credential.js';

/**
 * What the Graph source reads of a gate: its identity provider's `client_id` and `client_secret`, and its
 * hosts. Structural: a `Gate` fits, and so does a plain `{ idp, hosts }`.
 */
export interface GraphGateConfig {
  /** The gate's identity provider; only `config.client_id` and `config.client_secret` are read. */
  idp: {
    /** The identity provider's configuration (Cloudflare's `config` object). */
    config: {
      /** The application (client) id. */
      client_id: string;
      /** The client secret; never logged. @defaultValue none */
      client_secret?: string | undefined;
    };
  };
  /** The gate's hosts. */
  hosts: {
    /** The login authority host (`https://login.microsoftonline.com`). */
    authorityHost: string;
    /** The Microsoft Graph host (`https://graph.microsoft.com`). */
    graphHost: string;
  };
}

/** The Graph source's per-user cache of complete answers. */
export interface GraphCacheOptions {
  /** How long an answer is kept, in milliseconds; `0` disables the cache. @defaultValue `300000` (5 min) */
  ttlMs?: number | undefined;
  /** Most users cached (least recently used dropped first). @defaultValue `10000` */
  max?: number | undefined;
}

/** The national clouds, as Cloudflare's `azure_cloud`. */
export type GraphCloud = Extract<AzureCloud, 'default' | 'public' | 'usgov' | 'usgov_dod' | 'china'>;

/** Options of `createGraphGroupSource`. */
export interface GraphGroupSourceOptions {
  /**
   * Tenant for client credentials (GUID or verified domain). When omitted, the token's `tid` is used per
   * request: with a `gate`, that is its `directory_id` (or, in a multi-tenant gate, the tenant of the
   * accepted token, which is where that user's groups live). @defaultValue the token's `tid`
   */
  tenantId?: string | undefined;
  /** Application (client) id for client credentials; with `clientSecret`. @defaultValue the gate's `idp.config.client_id` */
  clientId?: string | undefined;
  /**
   * Client secret for client credentials; never logged. With a `gate` and no `clientId`, the secret of
   * the gate's `client_id`. @defaultValue the gate's `idp.config.client_secret` (when no `clientId` is given)
   */
  clientSecret?: string | undefined;
  /**
   * A certificate credential instead of a secret (`private_key_jwt`, PS256 with `x5t#S256`, or RS256 with
   * `x5t`), for `clientId` or, with a `gate` and no `clientId`, the gate's `client_id`. The key and
   * certificate are checked at construction; the key is never logged. @defaultValue none
   */
  clientCertificate?: ClientCertificate | undefined;
  /**
   * A token getter instead of client credentials, for workload identity federation or managed identity:
   * structurally `@azure/identity`'s `TokenCredential` (pass a `DefaultAzureCredential` or
   * `ManagedIdentityCredential` as is; entragate does not depend on it). Asked for `<graphHost>/.default`;
   * its token is cached until 5 minutes before `expiresOnTimestamp` (a tenth of a short lifetime). The
   * token's own tenant is read: use it for a single-tenant gate. @defaultValue none
   */
  credential?: AccessTokenCredential | undefined;
  /** National cloud, as Cloudflare's `azure_cloud`; when given it overrides the gate's hosts. @defaultValue the gate's hosts, else `"default"` */
  cloud?: GraphCloud | undefined;
  /** Overrides the Microsoft Graph host of `cloud` (or of the gate). @defaultValue the host of `cloud` (or of the gate) */
  graphHost?: string | undefined;
  /** Overrides the login authority host of `cloud` (or of the gate). @defaultValue the host of `cloud` (or of the gate) */
  authorityHost?: string | undefined;
  /**
   * The gate whose configuration this source reads, so nothing is typed twice: `clientId` and
   * `clientSecret` default from `gate.idp.config` (`client_id`, `client_secret`), the hosts from
   * `gate.hosts`. Any `{ idp, hosts }` of the same shape will do. @defaultValue none
   */
  gate?: GraphGateConfig | undefined;
  /** Timeout of one HTTP call, in milliseconds. @defaultValue `10000` */
  timeoutMs?: number | undefined;
  /** Budget for one user's resolution (token, every page, every retry), in milliseconds. @defaultValue `30000` */
  deadlineMs?: number | undefined;
  /** Retries per call after the first attempt (429, 503, 5xx, network errors, timeouts), 0–10. @defaultValue `4` */
  maxRetries?: number | undefined;
  /** First backoff when no `Retry-After` is given, in milliseconds; doubles per retry, with jitter. @defaultValue `500` */
  backoffBaseMs?: number | undefined;
  /** Longest backoff, in milliseconds. @defaultValue `8000` */
  backoffMaxMs?: number | undefined;
  /** Pages followed at most (999 groups each); more is an error, never a truncated list. @defaultValue `100` */
  maxPages?: number | undefined;
  /**
   * After a lookup fails for an outage (timeouts, network errors, 5xx, throttling past the retries), the
   * same tenant's other cache misses fail fast (still `unknown`) for this many milliseconds instead of
   * each waiting out `deadlineMs` against a Graph that is down; cached answers keep serving and other
   * tenants are not affected. Any other failure (a malformed page, a refused next link, more than
   * `maxPages`, a 4xx) makes that one lookup `unknown` and nothing else. `0` turns it off. @defaultValue `5000`
   */
  outageBackoffMs?: number | undefined;
  /** Per-user cache of complete answers. @defaultValue `{ ttlMs: 300000, max: 10000 }` */
  cache?: GraphCacheOptions | undefined;
  /** Injected `fetch` (tests, proxies). @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined;
  /** Injected sleep for retries, in milliseconds (tests use a fake that records). @defaultValue a timer */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Injected clock, in milliseconds since the epoch (deadlines, token expiry, cache TTL, `Retry-After` dates). @defaultValue `Date.now` */
  now?: (() => number) | undefined;
  /** Injected randomness in [0, 1) for backoff jitter. @defaultValue `Math.random` */
  random?: (() => number) | undefined;
}
