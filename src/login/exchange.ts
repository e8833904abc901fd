/**
 * The OIDC protocol of the login, on openid-client: discovery, the authorization URL, the code
 * exchange (PKCE, state, Entra's error responses) and the end-session URL. The only module that
 * imports openid-client.
 *
 * The ID token is not checked here. The gate verifies it (signature, issuer with Entra's
 * `{tenantid}` template, tenant allow-list, audience, lifetime, nonce) for every cloud and
 * authority alike, and {@link checkIdTokenParty} adds what only an ID token must satisfy.
 * openid-client would check it too, but Entra's multi-tenant discovery documents announce the
 * issuer template `https://login.microsoftonline.com/{tenantid}/v2.0` rather than a real issuer, and
 * openid-client keeps to the specification's exact issuer match: its maintainer declined a
 * vendor-specific workaround (https://github.com/panva/openid-client/pull/148), and the template is
 * substituted only for `login.microsoftonline.com`, so `organizations` logins failed on the US
 * Government and China clouds (and on the mock). The token response therefore reaches
 * openid-client with the ID token set aside under another name, and the gate checks it instead.
 */
import * as oidc from 'openid-client';
import { JwksError, SessionError, TokenError } from '../errors/index.js';
import { addClientAssertion, type ClientAssertionSigner } from '../credentials/client-credential.js';
import { issuerFitsAuthority } from './authority.js';

/** What the exchange needs from the login's configuration. */
export interface ExchangeSettings {
  authorityHost: string;
  /** A tenant id, `organizations`, `common` or `consumers`. */
  authorityTenant: string;
  clientId: string;
  /** How the client authenticates at the token endpoint: a secret (post or basic), or a certificate (`private_key_jwt`). */
  credential:
    | { method: 'client_secret_post' | 'client_secret_basic'; secret: string }
    | { method: 'private_key_jwt'; signer: ClientAssertionSigner; now: () => number };
  fetch: typeof fetch;
  /** Per call to Entra, ms. */
  timeoutMs: number;
}

/** The tokens a code exchange yields. */
export interface ExchangedTokens {
  idToken: string;
  accessToken: string | undefined;
  /** Entra's refresh token, when `offline_access` was asked for. */
  refreshToken: string | undefined;
}

/** The tokens a refresh grant yields: Entra sends an ID token again when `openid` was granted. */
export interface RefreshedTokens {
  idToken: string | undefined;
  accessToken: string | undefined;
  /** The rotated refresh token, when Entra sent one (else the old one stays valid). */
  refreshToken: string | undefined;
}

/** A new login's random values: `state`, `nonce`, and the PKCE verifier and challenge when asked. */
export interface LoginSecrets {
  state: string;
  nonce: string;
  verifier?: string;
  challenge?: string;
}

/** The login's OIDC client, discovered once (again after a failure). */
export interface OidcExchange {
  /** Random `state` and `nonce`, and a PKCE verifier with its S256 challenge when `pkce` is set. */
  secrets(pkce: boolean): Promise<LoginSecrets>;
  /** The authorization endpoint URL with these parameters. Rejects with `ERR_JWKS_UNAVAILABLE` when discovery fails. */
  authorizationUrl(params: Record<string, string>): Promise<URL>;
  /** Exchanges the code of a callback URL. Rejects with `ERR_LOGIN_EXCHANGE_FAILED`. */
  exchange(callback: URL, check: { state: string; verifier?: string | undefined }): Promise<ExchangedTokens>;
  /**
   * Redeems a refresh token (RFC 6749 §6). Rejects with `ERR_SESSION_RENEWAL_FAILED` when Entra refuses
   * it (an OAuth error answer: `invalid_grant` for a disabled, blocked or signed-out user, an expired or
   * revoked token), with `ERR_SESSION_RENEWAL_UNAVAILABLE` when Entra cannot be reached or fails (5xx,
   * timeout, network), with `ERR_JWKS_UNAVAILABLE` when discovery fails.
   */
  refresh(refreshToken: string): Promise<RefreshedTokens>;
  /** Entra's end-session URL, returning to `postLogoutRedirectUri`, with the hints given (`logout_hint`, `id_token_hint`). */
  endSessionUrl(postLogoutRedirectUri: string, hints?: { logout_hint?: string; id_token_hint?: string }): Promise<URL>;
}

/** Where the token response's `id_token` is set aside from openid-client (see the module comment). */
const ID_TOKEN_ASIDE = 'entragate_id_token';

/**
 * Creates the OIDC client of a login. Nothing is fetched until the first call.
 */
export function createOidcExchange(settings: ExchangeSettings): OidcExchange {
  const { authorityHost, authorityTenant, clientId, credential } = settings;
  let tokenEndpoint: string | undefined;
  const oidcFetch = async (url: string, init: oidc.CustomFetchOptions): Promise<Response> => {
    const response = await settings.fetch(url, init as RequestInit);
    return url === tokenEndpoint ? setIdTokenAside(response) : response;
  };

  let configuration: Promise<oidc.Configuration> | undefined;
  const discover = (): Promise<oidc.Configuration> => {
    configuration ??= (async () => {
      const authority = `${authorityHost}/${authorityTenant}/v2.0`;
      // The document's own URL: openid-client then leaves its issuer to us (checked below), since a
      // multi-tenant authority announces the `{tenantid}` template rather than its own URL.
      const server = new URL(`${authority}/.well-known/openid-configuration`);
      const config = await oidc.discovery(
        server,
        clientId,
        credential.method === 'private_key_jwt' ? {} : { client_secret: credential.secret },
        clientAuth(clientId, credential),
        {
          [oidc.customFetch]: oidcFetch,
          timeout: Math.ceil(settings.timeoutMs / 1000),
          execute: server.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
        },
      );
      const metadata = config.serverMetadata();
      if (!issuerFitsAuthority(metadata.issuer, authorityHost, authorityTenant)) {
        throw new Error(`the discovery document of \`${authorityTenant}\` names an issuer of another authority`);
      }
      tokenEndpoint = metadata.token_endpoint;
      return config;
    })().catch((cause: unknown) => {
      configuration = undefined;
      throw new JwksError('ERR_JWKS_UNAVAILABLE', `the login discovery document of tenant \`${authorityTenant}\` could not be fetched`, { cause });
    });
    return configuration;
  };

  return {
    async secrets(pkce) {
      const out: LoginSecrets = { state: oidc.randomState(), nonce: oidc.randomNonce() };
      if (pkce) {
        out.verifier = oidc.randomPKCECodeVerifier();
        out.challenge = await oidc.calculatePKCECodeChallenge(out.verifier);
      }
      return out;
    },
    async authorizationUrl(params) {
      return oidc.buildAuthorizationUrl(await discover(), params);
    },
    async exchange(callback, check) {
      const config = await discover();
      let tokens: oidc.TokenEndpointResponse;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callback, {
          expectedState: check.state,
          ...(check.verifier ? { pkceCodeVerifier: check.verifier } : {}),
        });
      } catch (cause) {
        throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', `the authorization code could not be exchanged: ${describeOidcError(cause)}`, { cause });
      }
      const idToken = tokens[ID_TOKEN_ASIDE];
      if (typeof idToken !== 'string') throw new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the token endpoint returned no `id_token`');
      return {
        idToken,
        accessToken: typeof tokens.access_token === 'string' ? tokens.access_token : undefined,
        refreshToken: typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0 ? tokens.refresh_token : undefined,
      };
    },
    async refresh(refreshToken) {
      const config = await discover();
      let tokens: oidc.TokenEndpointResponse;
      try {
        tokens = await oidc.refreshTokenGrant(config, refreshToken);
      } catch (cause) {
        // INVARIANT: only Entra's own refusal (an OAuth error body below 500) ends a session; anything
        // else (5xx, timeout, network, a body that is not a token response) is an outage and a 503.
        if (cause instanceof oidc.ResponseBodyError && cause.status < 500) {
          throw new SessionError('ERR_SESSION_RENEWAL_FAILED', `entra refused to renew the session: ${describeOidcError(cause)}: log in again`, { cause });
        }
        throw new SessionError('ERR_SESSION_RENEWAL_UNAVAILABLE', `entra could not renew the session: ${describeOidcError(cause)}`, { cause });
      }
      const idToken = tokens[ID_TOKEN_ASIDE];
      return {
        idToken: typeof idToken === 'string' ? idToken : undefined,
        accessToken: typeof tokens.access_token === 'string' ? tokens.access_token : undefined,
        refreshToken: typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0 ? tokens.refresh_token : undefined,
      };
    },
    async endSessionUrl(postLogoutRedirectUri, hints = {}) {
      return oidc.buildEndSessionUrl(await discover(), { post_logout_redirect_uri: postLogoutRedirectUri, ...hints });
    },
  };
}

/**
 * openid-client's client authentication for the login's credential. A certificate goes through
 * openid-client's client-auth hook (a `ClientAuth` is any function that completes the token request's
 * body and headers) rather than its `PrivateKeyJwt`: Entra names the key by the certificate's
 * thumbprint (`x5t#S256`, or `x5t` for RS256) in the assertion header, which `PrivateKeyJwt` does not
 * write (https://github.com/panva/openid-client/issues/667). The assertion's `aud` is the discovered
 * token endpoint, as Microsoft's certificate-credentials page asks.
 */
function clientAuth(clientId: string, credential: ExchangeSettings['credential']): oidc.ClientAuth {
  switch (credential.method) {
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(credential.secret);
    case 'client_secret_post':
      return oidc.ClientSecretPost(credential.secret);
    case 'private_key_jwt':
      return (as, _client, body) => {
        if (typeof as.token_endpoint !== 'string') throw new Error('the discovery document names no token endpoint');
        addClientAssertion(body, clientId, credential.signer, as.token_endpoint, credential.now());
      };
  }
}

/**
 * A successful JSON token response with its `id_token` renamed to {@link ID_TOKEN_ASIDE}; any
 * other response (an error, not JSON) unchanged.
 */
async function setIdTokenAside(response: Response): Promise<Response> {
  if (!response.ok || !(response.headers.get('content-type') ?? '').includes('json')) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  }
  // INVARIANT: the set-aside name only ever holds the response's own `id_token`: a response that
  // carries the name itself has it dropped, so no other member can stand in for the ID token.
  const { id_token: idToken, [ID_TOKEN_ASIDE]: _carried, ...rest } = body as Record<string, unknown>;
  const aside = Object.hasOwn(body, 'id_token') ? { ...rest, [ID_TOKEN_ASIDE]: idToken } : rest;
  return new Response(JSON.stringify(aside), { status: response.status, statusText: response.statusText, headers });
}

/**
 * The ID-token checks of OpenID Connect Core 3.1.3.7 the gate does not make, since it also
 * verifies access tokens: `aud` is exactly this client (the gate accepts `api://` and the
 * configured API audiences too), an `azp` names this client, and `sub` is present.
 */
export function checkIdTokenParty(claims: Readonly<Record<string, unknown>>, clientId: string): void {
  if (claims.aud !== clientId || (claims.azp !== undefined && claims.azp !== clientId)) {
    throw new TokenError('ERR_TOKEN_AUDIENCE_INVALID', 'the ID token is not for this client: its `aud` or `azp` is not the client id');
  }
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
    throw new TokenError('ERR_TOKEN_CLAIM_INVALID', 'the ID token has no `sub` claim');
  }
}

/** Keeps an OAuth error value printable and short (it comes from the query string). */
export function printableError(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
}

/** The `AADSTS…` code of an Entra error description (the rest may carry trace ids). */
export function aadsts(description: string | null): string | undefined {
  return description?.match(/AADSTS\d{4,7}/)?.[0];
}

function describeOidcError(error: unknown): string {
  if (error instanceof oidc.ResponseBodyError) {
    const detail = aadsts(error.error_description ?? null);
    return `\`${printableError(error.error)}\`${detail ? ` (${detail})` : ''}`;
  }
  if (error instanceof Error) return error.message.slice(0, 200);
  return 'unknown error';
}
