/** The Graph HTTP client: one call with timeout, retries and throttling, and the application tokens it sends. */
import type { ErrorCode } from '../errors/index.js';
import { addClientAssertion, type AccessTokenCredential } from '../credentials/client-credential.js';
import { channels } from './graph-channels.js';
import type { AppCredentials, ParsedGraphOptions } from './graph-config.js';

/** Why a call or a lookup got no answer, and whether it was an outage. */
export interface Failure {
  code: ErrorCode;
  reason: string;
  /**
   * Graph (or its token endpoint) is down or overloaded: timeouts, network errors, 5xx, throttling
   * past the retries. Only an outage opens the tenant's fail-fast window; anything else (a malformed
   * page, a refused next link, too many pages, a 4xx) is this one lookup's failure.
   */
  outage?: true;
}

/** Whose token a lookup sends: the user's delegated one, or the application's for a tenant. */
export type Auth = { kind: 'delegated'; token: string } | { kind: 'application'; tenant: string };

/** An error code from Graph or its token endpoint that may be quoted in a reason. */
export const SAFE_CODE = /^[A-Za-z0-9_.]{1,64}$/;

/** What the client is built from: the parsed options, the hosts, the credentials and the injected I/O. */
export interface GraphClientSettings {
  readonly config: ParsedGraphOptions;
  readonly hosts: { readonly graphHost: string; readonly authorityHost: string };
  readonly credentials: AppCredentials | undefined;
  readonly fetchFn: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly random: () => number;
}

/** The client of one Graph source. */
export interface GraphClient {
  /**
   * One HTTP call with timeout and retries. Returns the response of the first
   * attempt that is not retryable (any status), or a failure.
   */
  send(target: 'graph' | 'token', url: string, init: () => Promise<RequestInit | Failure>, deadline: number): Promise<Response | Failure>;
  /** The application token of a tenant: cached until shortly before it expires, fetched once for concurrent callers. */
  appToken(tenant: string, deadline: number): Promise<string | Failure>;
  /** Forgets a tenant's cached application token (Graph refused it). */
  forgetAppToken(tenant: string): void;
  /** Forgets every cached application token. */
  clear(): void;
}

/** A client with its own application-token cache (one per Graph source). */
export function createGraphClient(settings: GraphClientSettings): GraphClient {
  const { config, hosts, credentials, fetchFn, sleep, now, random } = settings;
  const appTokens = new Map<string, { token: string; expiresAt: number }>();
  const tokenFlights = new Map<string, Promise<string | Failure>>();

  function backoff(attempt: number): number {
    const ceiling = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** attempt);
    // Equal jitter: at least half the step, so retries never bunch at zero.
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  }

  function retryAfterMs(header: string | null): number | undefined {
    if (header === null) return undefined;
    const text = header.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
    const date = Date.parse(text);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now());
  }

  /**
   * One HTTP call with timeout and retries. Returns the response of the first
   * attempt that is not retryable (any status), or a failure.
   */
  async function send(target: 'graph' | 'token', url: string, init: () => Promise<RequestInit | Failure>, deadline: number): Promise<Response | Failure> {
    const parsed = new URL(url);
    let last = 'no attempt';
    for (let attempt = 0; attempt <= config.maxRetries; attempt++) {
      const remaining = deadline - now();
      if (remaining <= 0)
        return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: deadline of ${config.deadlineMs} ms exceeded: ${last}`, outage: true };
      const request = await init();
      if ('code' in request) return request;
      const timeout = Math.min(config.timeoutMs, remaining);
      const started = now();
      let response: Response;
      try {
        response = await fetchFn(url, { ...request, signal: AbortSignal.timeout(timeout) });
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        last = timedOut ? `timed out after ${timeout} ms` : `network error \`${err instanceof Error ? err.name : 'unknown'}\``;
        publishRequest(target, request.method ?? 'GET', parsed, 0, attempt, now() - started);
        if (attempt < config.maxRetries) await sleep(Math.min(backoff(attempt), Math.max(0, deadline - now())));
        continue;
      }
      publishRequest(target, request.method ?? 'GET', parsed, response.status, attempt, now() - started);
      const status = response.status;
      if (status !== 429 && status !== 503 && status !== 500 && status !== 502 && status !== 504) return response;
      last = `status \`${status}\``;
      await response.body?.cancel().catch(() => undefined);
      if (attempt === config.maxRetries) break;
      const throttled = status === 429 || status === 503;
      const advised = throttled ? retryAfterMs(response.headers.get('retry-after')) : undefined;
      const wait = advised ?? backoff(attempt);
      if (wait > deadline - now()) {
        return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last}: retry in ${wait} ms would pass the deadline`, outage: true };
      }
      if (throttled && channels.throttled.hasSubscribers) channels.throttled.publish({ target, status, retryAfterMs: wait, attempt });
      await sleep(wait);
    }
    return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: ${last} after ${config.maxRetries + 1} attempts`, outage: true };
  }

  function publishRequest(target: string, method: string, url: URL, status: number, attempt: number, durationMs: number): void {
    if (channels.request.hasSubscribers) channels.request.publish({ target, method, host: url.host, path: url.pathname, status, attempt, durationMs });
  }

  async function appToken(tenant: string, deadline: number): Promise<string | Failure> {
    const cached = appTokens.get(tenant);
    if (cached !== undefined && now() < cached.expiresAt) return cached.token;
    let flight = tokenFlights.get(tenant);
    if (flight === undefined) {
      flight = fetchAppToken(tenant, deadline).finally(() => tokenFlights.delete(tenant));
      tokenFlights.set(tenant, flight);
    }
    return flight;
  }

  async function fetchAppToken(tenant: string, deadline: number): Promise<string | Failure> {
    const creds = credentials as AppCredentials;
    const scope = `${hosts.graphHost}/.default`;
    if (creds.kind === 'credential') return credentialToken(creds.credential, scope, tenant, deadline);
    const url = `${hosts.authorityHost}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
    const init = () => {
      const body = new URLSearchParams({ client_id: creds.id, scope, grant_type: 'client_credentials' });
      // A fresh assertion per attempt: Entra refuses a replayed `jti` (AADSTS700025).
      if (creds.kind === 'certificate') addClientAssertion(body, creds.id, creds.signer, url, now());
      else body.set('client_secret', creds.secret);
      return Promise.resolve<RequestInit>({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
      });
    };
    const response = await send('token', url, init, deadline);
    if (!(response instanceof Response)) return response;
    const json = await readJson(response);
    if (response.status !== 200) {
      const error = isRecord(json) && typeof json.error === 'string' && SAFE_CODE.test(json.error) ? json.error : 'unknown';
      const code: ErrorCode =
        response.status === 400 || response.status === 401 || response.status === 403 ? 'ERR_GRAPH_FORBIDDEN' : 'ERR_GRAPH_REQUEST_FAILED';
      const what = creds.kind === 'certificate' ? 'clientCertificate (registered on the app?)' : 'clientSecret';
      const refused: Failure = { code, reason: `graph token request refused: \`${response.status}\` \`${error}\`: check clientId, ${what} and tenant` };
      if (response.status >= 500) refused.outage = true;
      return refused;
    }
    const expiresIn = isRecord(json) ? Number(json.expires_in) : Number.NaN;
    if (!isRecord(json) || typeof json.access_token !== 'string' || json.access_token === '' || !(expiresIn > 0)) {
      return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph token response malformed: no `access_token` or `expires_in`' };
    }
    // Renew shortly before expiry: 5 min, or a tenth of a short lifetime.
    const lifetime = expiresIn * 1000;
    appTokens.set(tenant, { token: json.access_token, expiresAt: now() + lifetime - Math.min(300_000, lifetime / 10) });
    return json.access_token;
  }

  /** A token from the `credential` hook, cached like a client-credentials token; bounded by the call timeout and the deadline. */
  async function credentialToken(credential: AccessTokenCredential, scope: string, tenant: string, deadline: number): Promise<string | Failure> {
    const budget = Math.min(config.timeoutMs, deadline - now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, budget));
    });
    let answer: Awaited<ReturnType<AccessTokenCredential['getToken']>> | 'timeout';
    try {
      answer = await Promise.race([credential.getToken(scope), timedOut]);
    } catch (err) {
      // The error's message may describe the credential's environment: only its name is kept.
      return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph credential failed: \`${err instanceof Error ? err.name : 'unknown'}\``, outage: true };
    } finally {
      clearTimeout(timer);
    }
    if (answer === 'timeout') return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph credential timed out after ${budget} ms`, outage: true };
    if (
      answer === null ||
      typeof answer !== 'object' ||
      typeof answer.token !== 'string' ||
      answer.token === '' ||
      !Number.isFinite(answer.expiresOnTimestamp)
    ) {
      return { code: 'ERR_GRAPH_FORBIDDEN', reason: 'graph credential returned no token: check the managed identity or federated credential' };
    }
    const lifetime = answer.expiresOnTimestamp - now();
    if (lifetime > 0) appTokens.set(tenant, { token: answer.token, expiresAt: now() + lifetime - Math.min(300_000, lifetime / 10) });
    return answer.token;
  }

  return {
    send,
    appToken,
    forgetAppToken: (tenant) => {
      appTokens.delete(tenant);
    },
    clear: () => appTokens.clear(),
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch {
    return undefined;
  }
}
