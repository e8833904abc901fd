/** The login's start: the authorize redirect with state, nonce and PKCE, and the sealed transaction cookie. */
import { publish } from '../diagnostics.js';
import type { OidcExchange } from './exchange.js';
import { failure } from './pages.js';
import { serializeCookie, type CookieAttributes } from '../http/cookies.js';
import { loginChannels } from './diagnostics.js';
import type { ParsedLoginOptions } from './options.js';
import { header, safeReturnTo, type RequestLike } from '../http/request.js';
import { TransactionSealer, transactionsToEvict, type LoginTransaction } from './transaction.js';
import { loginParameters, type LoginStartOptions } from './parameters.js';

/** The most login transactions (tabs mid-login) a browser keeps; a new start evicts the oldest beyond it. */
const MAX_LOGIN_TRANSACTIONS = 4;

/** What the start needs from the login. */
export interface StartSettings {
  options: ParsedLoginOptions;
  /** The callback URL (`redirectUri`). */
  redirect: URL;
  /** The scopes asked for, `offline_access` included when the login keeps refresh tokens. */
  scopes: readonly string[];
  exchange: OidcExchange;
  sealer: TransactionSealer;
  /** The transaction cookies' attributes (scoped to the callback's folder). */
  txCookie: CookieAttributes;
  now: () => number;
}

/** `Login.start`: a 302 to Entra's authorize endpoint, or a failure page. */
export function createStartHandler(s: StartSettings): (request: RequestLike, startOptions?: LoginStartOptions) => Promise<Response> {
  const { options: o, redirect, scopes, exchange, sealer, txCookie, now } = s;
  const idp = o.gate.idp;
  return async (request, startOptions = {}) => {
    try {
      const { returnTo: asked, ...hints } = loginParameters(request, startOptions);
      const returnTo = safeReturnTo(asked, '/');
      const { state, nonce, verifier, challenge } = await exchange.secrets(idp.config.pkce_enabled);
      const params: Record<string, string> = {
        redirect_uri: redirect.href,
        response_type: 'code',
        response_mode: 'query',
        scope: scopes.join(' '),
        state,
        nonce,
      };
      if (idp.config.prompt) params.prompt = idp.config.prompt;
      // Per request (msal-node's `loginHint`, `domainHint`, `prompt`, `claims`): checked, then sent as
      // Entra's authorize parameters; a request's `prompt` overrides the IdP's.
      Object.assign(params, hints);
      const tx: LoginTransaction = { state, nonce, returnTo, expiresAt: now() + o.transactionTtlSeconds * 1000 };
      if (verifier !== undefined && challenge !== undefined) {
        tx.verifier = verifier;
        params.code_challenge = challenge;
        params.code_challenge_method = 'S256';
      }
      const location = await exchange.authorizationUrl(params);
      const name = TransactionSealer.cookieName(o.cookie.transactionPrefix, state);
      const headers = new Headers({ location: location.href, 'cache-control': 'no-store' });
      // INVARIANT: a browser holds a bounded number of login transactions: abandoned starts (closed tabs,
      // a bot) evict the oldest instead of piling up cookies until the callback's headers are refused (431).
      for (const stale of transactionsToEvict(sealer, `${o.cookie.transactionPrefix}_`, header(request.headers, 'cookie'), now(), MAX_LOGIN_TRANSACTIONS))
        headers.append('set-cookie', serializeCookie(stale, '', { ...txCookie, maxAge: 0 }));
      headers.append('set-cookie', serializeCookie(name, sealer.seal(tx, name), { ...txCookie, maxAge: o.transactionTtlSeconds }));
      publish(loginChannels.login, { event: 'start', pkce: idp.config.pkce_enabled });
      return new Response(null, { status: 302, headers });
    } catch (error) {
      return failure(error, []);
    }
  };
}
