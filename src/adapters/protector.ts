/**
 * The decision flow of `protect`, the same in every adapter: refuse a credential given twice, read the
 * request's context and credential (a service token, a bearer token, an assertion, the session cookie),
 * resolve the identity through the gate's one pipeline, decide, and hand back the outcome.
 */
import { parseWith } from '../config/idp.js';
import { ConfigError, TokenError } from '../errors/index.js';
import type { AuthorizeContext, Gate } from '../gate.js';
import { readCookie } from '../http/cookies.js';
import { pathRouting, type PathRouting, type RoutedHttpRequest } from '../policy/http-request.js';
import type { Decision } from '../policy/types.js';
import type { Identity, RequestContext } from '../types.js';
import { createRepeatedCheck, createServiceTokens, headerOf, hostOf, parseBearer, stripMappedIpv4 } from './credentials.js';
import { protectOptionsSchema, type ProtectOptions } from './options.js';
import { ACCESS_ASSERTION_HEADER, accessAssertionOf } from '../cloudflare/assertion.js';
import { accessServiceTokenContext } from '../cloudflare/service-token.js';
import { createOutcomes } from './outcome.js';
import { stepUpClaims } from '../policy/claim-checks.js';
import type { Auth, AuthenticateTarget, AuthVia, NodeHeaders, ProtectOutcome, ProtectTarget, Protector, RequestView } from './types.js';

/**
 * An `Auth` a protector admitted, branded with the `viaFramework` of that `protect` or `authenticate`:
 * the claim checks after it answer errors the same way (its `errorHandling`). The brand is a private
 * field, so a copy (`{ ...auth }`) or an object an app builds is not admitted; a WeakMap did the same
 * but cost an entry per request (set in the hot path, swept by every GC).
 */
class AdmittedAuth implements Auth {
  readonly #viaFramework: Protector['viaFramework'];
  declare identity: Auth['identity'];
  declare decision: Auth['decision'];
  declare via: AuthVia;
  declare context: RequestContext;
  declare token?: Auth['token'];
  declare claims?: Auth['claims'];
  declare header?: Auth['header'];
  declare serviceToken?: Auth['serviceToken'];

  constructor(viaFramework: Protector['viaFramework'], identity: Identity | null, decision: Decision | null, via: AuthVia, context: RequestContext) {
    this.#viaFramework = viaFramework;
    this.identity = identity;
    this.decision = decision;
    this.via = via;
    this.context = context;
  }

  static viaFrameworkOf(auth: object): Protector['viaFramework'] | undefined {
    return #viaFramework in auth ? (auth as AdmittedAuth).#viaFramework : undefined;
  }
}

/** The `viaFramework` of the protector that admitted `auth`, or `undefined` when none did. */
export function admittingProtector(auth: Auth): Protector['viaFramework'] | undefined {
  return AdmittedAuth.viaFrameworkOf(auth);
}

/** Whether an error outcome goes to the framework (see the `errorHandling` option). */
export function viaFrameworkFor(frameworkErrors: boolean, outcome: ProtectOutcome, headers: NodeHeaders): boolean {
  if (outcome.kind !== 'respond' || outcome.error === undefined) return false;
  if (frameworkErrors) return true;
  const accept = headerOf(headers, 'accept');
  return accept === undefined || !accept.includes('json') || accept.includes('text/html');
}

/**
 * Builds the framework-free decision function every adapter calls: reads the
 * credentials (bearer token, assertion header, session cookie, service token),
 * builds the request context, asks the gate, and maps the result to an outcome.
 * Options are validated here, once; a bad option or an unknown application throws
 * a `ConfigError` synchronously.
 *
 * It does not write a response: adapters do, in their framework's way.
 *
 * @example
 * ```ts
 * import { createGate } from 'entragate';
 * import { createProtector } from 'entragate/express';
 * declare const gate: ReturnType<typeof createGate>;
 * const protector = createProtector(gate, { application: 'portal' });
 * const outcome = await protector.decide({ method: 'GET', url: '/', headers: { authorization: 'Bearer …' }, ip: '127.0.0.1' });
 * if (outcome.kind === 'allow') console.log(outcome.auth.identity?.email);
 * ```
 */
export function createProtector(gate: Gate, target: ProtectTarget | AuthenticateTarget, options: ProtectOptions = {}): Protector {
  if (typeof gate !== 'object' || gate === null || typeof gate.authorize !== 'function') {
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid protect configuration: the first argument must be a gate from `createGate`');
  }
  const o = parseWith(protectOptionsSchema, options, 'protect');
  // `authenticate`: a valid token or session is enough, no policy decides (the identity pipeline still runs).
  const authenticateOnly = typeof target === 'object' && target !== null && (target as AuthenticateTarget).authenticate === true;
  const gateway = !authenticateOnly && (target as { gateway?: boolean }).gateway === true;
  const application = gateway || authenticateOnly ? undefined : (target as { application?: string }).application;
  if (!authenticateOnly && o.authRequired !== undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid protect configuration: `authRequired` is an `authenticate` option; with `protect` the policies decide who may pass',
    );
  }
  const authRequired = o.authRequired !== false;
  if (!gateway && !authenticateOnly && gate.application(application) === undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      application === undefined
        ? 'invalid protect configuration: the gate has several applications (or none): pass `{ application }` or `{ gateway: true }`'
        : `invalid protect configuration: the gate has no application \`${application}\``,
    );
  }
  const login = o.login;
  // The application whose `revokeApp` covers a bearer token: the target's, else the login's.
  const revokedWith = application ?? login?.application;
  const countryHeader = o.countryHeader?.toLowerCase();
  // Behind Cloudflare Access the assertion header is Cloudflare's, read by the gate's verifier: one source of truth.
  const behindAccess = gate.cloudflareAccess !== undefined;
  if (behindAccess && o.assertionHeader !== undefined && o.assertionHeader.toLowerCase() !== ACCESS_ASSERTION_HEADER) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `invalid protect configuration: the gate is behind Cloudflare Access, whose assertion is \`${ACCESS_ASSERTION_HEADER}\`: \`assertionHeader\` \`${o.assertionHeader}\` would read another`,
    );
  }
  const assertionHeader = behindAccess ? ACCESS_ASSERTION_HEADER : o.assertionHeader?.toLowerCase();
  const serviceTokenHeader = o.serviceTokenHeader?.toLowerCase();
  if (serviceTokenHeader !== undefined && (serviceTokenHeader === assertionHeader || serviceTokenHeader.startsWith('cf-access-client-'))) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `invalid protect configuration: \`serviceTokenHeader\` \`${serviceTokenHeader}\` is already read as ${serviceTokenHeader === assertionHeader ? 'the `assertionHeader`' : 'half of the service-token header pair'}`,
    );
  }
  if (authenticateOnly && o.anonymous !== undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid authenticate configuration: `anonymous` applies to `protect` with `{ gateway: true }`; `authenticate` takes `authRequired: false`',
    );
  }
  if (!gateway && o.anonymous !== undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid protect configuration: `anonymous` applies to `{ gateway: true }` targets; an Access application lets a request without a login reach its Bypass and Service Auth policies only',
    );
  }
  const evaluateAnonymous = o.anonymous === 'evaluate';
  const retryAfter = String(o.retryAfterSeconds);
  const routingOverride = o.routing;
  const overridden = new Map<PathRouting | undefined, PathRouting>();
  /** The framework's routing with the `routing` option applied over it (one shared object per combination). */
  function routingOf(view: RequestView): PathRouting | undefined {
    const base = view.routing;
    if (routingOverride === undefined) return base;
    let routing = overridden.get(base);
    if (routing === undefined) {
      routing = pathRouting({
        caseInsensitive: routingOverride.caseSensitive === undefined ? base?.caseInsensitive === true : !routingOverride.caseSensitive,
        matchesDecoded: base?.matchesDecoded === true,
        ignoreTrailingSlash: routingOverride.ignoreTrailingSlash ?? base?.ignoreTrailingSlash === true,
        semicolonDelimiter: routingOverride.semicolonDelimiter ?? base?.semicolonDelimiter === true,
      });
      overridden.set(base, routing);
    }
    return routing;
  }
  // The headers that must come once (RFC 6750 §3.1 for the token; the rest so that no layer reads another copy).
  const repeatedOf = createRepeatedCheck(
    ['authorization', 'cf-access-client-id', 'cf-access-client-secret', assertionHeader, serviceTokenHeader, countryHeader],
    login?.cookieName,
  );
  const serviceTokenOf = createServiceTokens(o.serviceTokens, serviceTokenHeader);

  // Built once: the options of every bearer request without a `graphToken` (a spread per request cost allocations).
  const identifyOptions: { readonly application?: string } = Object.freeze(revokedWith === undefined ? {} : { application: revokedWith });
  const baseContext: AuthorizeContext = gateway ? { gateway: true } : application === undefined ? {} : { application };

  function wantsLogin(view: RequestView): boolean {
    if (login === undefined || !o.redirectBrowsers) return false;
    if (view.method !== 'GET' && view.method !== 'HEAD') return false;
    // INVARIANT: the login path is never redirected to itself (a protected login route would loop the
    // browser through `?returnTo=%2Flogin` forever): such a request is answered, not redirected.
    const query = view.url.indexOf('?');
    if ((query === -1 ? view.url : view.url.slice(0, query)) === o.loginPath) return false;
    const accept = headerOf(view.headers, 'accept');
    return accept !== undefined && accept.includes('text/html');
  }

  function redirect(view: RequestView, claims?: object): ProtectOutcome {
    return {
      kind: 'redirect',
      location: `${o.loginPath}?returnTo=${encodeURIComponent(view.url)}${claims === undefined ? '' : `&claims=${encodeURIComponent(JSON.stringify(claims))}`}`,
    };
  }

  // Microsoft's claims challenge ("Claims challenges, claims requests and client capabilities",
  // learn.microsoft.com/entra/identity-platform/claims-challenge): 401 with
  // `WWW-Authenticate: Bearer realm="", authorization_uri="<authorize endpoint>", error="insufficient_claims",
  // claims="<base64 of the claims request>"`; the client asks Entra for a new token with that claims
  // request, and Conditional Access enforces the authentication context ("Conditional Access
  // authentication context", Microsoft identity platform developer guide).
  let authorizationUri: string | undefined;
  function stepUp(view: RequestView, contexts: readonly string[]): ProtectOutcome {
    const claims = stepUpClaims(contexts);
    if (wantsLogin(view)) return redirect(view, claims.idToken);
    authorizationUri ??= `${gate.hosts.authorityHost}/${gate.idp.config.directory_id}/oauth2/v2.0/authorize`;
    const encoded = Buffer.from(JSON.stringify(claims.accessToken)).toString('base64');
    const challenge = `Bearer realm="", authorization_uri="${authorizationUri}", error="insufficient_claims", claims="${encoded}"`;
    const headers = { 'WWW-Authenticate': challenge };
    const error = new TokenError(
      'ERR_AUTH_CONTEXT_REQUIRED',
      'the request needs a Conditional Access authentication context the token does not carry: ask Entra for a token with the claims of the challenge',
      { headers },
    );
    return { kind: 'respond', status: 401, headers, body: { error: 'insufficient_claims', code: error.code, message: error.message }, error };
  }

  const { ambiguous, unauthorized, fromError, denied } = createOutcomes({
    retryAfter,
    assertionHeader,
    exposeTrace: o.exposeTrace,
    wantsLogin,
    redirect,
  });
  const frameworkErrors = o.errorHandling === 'framework';
  const viaFramework: Protector['viaFramework'] = (outcome, headers) => viaFrameworkFor(frameworkErrors, outcome, headers);
  return {
    viaFramework,
    async decide(view) {
      // INVARIANT: a credential given twice is refused before either copy is read.
      const repeated = repeatedOf(view);
      if (repeated !== undefined) return ambiguous(repeated);
      // Every request carries its HTTP attributes (and how the framework routes its path), so Gateway
      // `http.*` fields are unknown here only for a path that has no normalised form.
      const routing = routingOf(view);
      const request: RoutedHttpRequest =
        routing === undefined
          ? { method: view.method, host: hostOf(view), url: view.url }
          : { method: view.method, host: hostOf(view), url: view.url, routing };
      const context: RequestContext = { request };
      if (view.ip !== undefined && view.ip.length > 0) context.ip = stripMappedIpv4(view.ip);
      if (countryHeader !== undefined) {
        const country = headerOf(view.headers, countryHeader);
        if (country !== undefined && /^[A-Za-z]{2}$/.test(country)) context.country = country.toUpperCase();
      }
      if (view.certificate !== undefined) context.certificate = view.certificate;

      const service = serviceTokenOf(view);
      // INVARIANT: a service token that fails is a 401, never an anonymous pass.
      if (service instanceof TokenError) return unauthorized(service);
      if (service !== undefined) context.serviceToken = { tokenId: service };
      if (o.devicePosture !== undefined) {
        const passed = await o.devicePosture(view);
        if (passed !== undefined) {
          if (!Array.isArray(passed) || !passed.every((uid) => typeof uid === 'string')) {
            return fromError(
              new ConfigError('ERR_CONFIG_INVALID', 'protect: `devicePosture` must return an array of integration uids (strings) or undefined'),
              view,
              false,
            );
          }
          context.devicePosture = [...passed];
        }
      }

      let identity: Identity | null = null;
      let token: string | undefined;
      let via: AuthVia = context.serviceToken === undefined ? 'anonymous' : 'service-token';
      let fromCookie = false;
      let sessionRef: { issuedAt: number; application: string | undefined } | undefined;
      let claims: Readonly<Record<string, unknown>> | undefined;
      let header: Readonly<Record<string, unknown>> | undefined;
      try {
        if (behindAccess) {
          // INVARIANT: behind Cloudflare Access, Cloudflare's assertion is the credential, whatever else the
          // request carries (an `Authorization` header is neither read nor exposed); a request without one did
          // not come through Cloudflare and is refused.
          const assertion = accessAssertionOf(view.headers);
          if (assertion === undefined) return unauthorized(new TokenError('ERR_TOKEN_MISSING', 'no Cloudflare Access assertion was presented'));
          token = assertion;
          via = 'assertion';
          const result = await gate.identifyAccess(assertion, revokedWith === undefined ? {} : { application: revokedWith });
          if (result.kind === 'service') {
            context.serviceToken = accessServiceTokenContext(result, o.serviceTokens);
            via = 'service-token';
          } else {
            identity = result.identity;
          }
        } else {
          const authorization = headerOf(view.headers, 'authorization');
          const bearer = authorization === undefined ? undefined : parseBearer(authorization);
          if (bearer === '') return unauthorized(new TokenError('ERR_TOKEN_MALFORMED', 'the `Authorization: Bearer` header has no token'));
          const assertion = bearer === undefined && assertionHeader !== undefined ? headerOf(view.headers, assertionHeader) : undefined;
          if (bearer !== undefined || assertion !== undefined) {
            token = (bearer ?? assertion)!;
            via = bearer !== undefined ? 'bearer' : 'assertion';
            const graphToken = o.graphToken?.(view);
            // The one identity pipeline: revocations (with the clock tolerance), the directory's standing, groups.
            const verified = await gate.identifyToken(token, graphToken === undefined ? identifyOptions : { ...identifyOptions, graphToken });
            identity = verified.identity;
            claims = verified.claims;
            header = verified.header;
          } else if (login !== undefined && readCookie(headerOf(view.headers, 'cookie'), login.cookieName) !== undefined) {
            fromCookie = true;
            const session = await login.authenticate({
              method: view.method,
              url: view.url,
              headers: view.headers,
            });
            identity = session.identity;
            via = 'session';
            sessionRef = {
              issuedAt: session.session.iat,
              application: login.application,
            };
            if (context.country === undefined && session.country !== undefined) context.country = session.country;
          }
        }
      } catch (error) {
        return fromError(error, view, fromCookie);
      }

      if (authenticateOnly) {
        if (identity === null) {
          // INVARIANT: only the absence of every credential passes anonymously; a bad one was a 401 above.
          if (!authRequired && token === undefined && !fromCookie) return { kind: 'pass' };
          if (wantsLogin(view)) return redirect(view);
          return unauthorized(new TokenError('ERR_TOKEN_MISSING', 'no bearer token or session was presented'));
        }
        const auth = new AdmittedAuth(viaFramework, identity, null, via, context);
        if (token !== undefined) auth.token = token;
        if (claims !== undefined) auth.claims = claims;
        if (header !== undefined) auth.header = header;
        return { kind: 'allow', auth };
      }

      // INVARIANT: on a Gateway target a request without any credential is challenged, as on an Access
      // target, unless `anonymous: 'evaluate'`: an identity rule must never read "no login" as "no groups".
      if (gateway && identity === null && context.serviceToken === undefined && !evaluateAnonymous) {
        if (wantsLogin(view)) return redirect(view);
        return unauthorized(new TokenError('ERR_TOKEN_MISSING', 'no bearer token or session was presented'));
      }

      let decision: Decision;
      try {
        // Object.assign, not a spread: V8 took about 2 µs to spread this request's context (measured:
        // `decide` went from 3 µs to 1.1 µs), for the same copy.
        // A session is held to the deciding policy's session duration on every request (the gate refuses
        // an older one with ERR_SESSION_EXPIRED, which sends a browser back to the login).
        decision = await gate.authorize(
          identity,
          sessionRef === undefined ? Object.assign({}, baseContext, context) : Object.assign({}, baseContext, context, { session: sessionRef }),
        );
      } catch (error) {
        return fromError(error, view, fromCookie);
      }

      if (decision.allowed) {
        const auth = new AdmittedAuth(viaFramework, identity, decision, via, context);
        if (token !== undefined) auth.token = token;
        if (claims !== undefined) auth.claims = claims;
        if (header !== undefined) auth.header = header;
        if (context.serviceToken !== undefined) auth.serviceToken = context.serviceToken;
        return { kind: 'allow', auth };
      }
      if (identity === null && context.serviceToken === undefined) {
        if (wantsLogin(view)) return redirect(view);
        return unauthorized(new TokenError('ERR_TOKEN_MISSING', 'no bearer token or session was presented'));
      }
      // Denied only for want of an authentication context: step up (a claims challenge, or the login
      // again with the claims request) instead of a 403 the user cannot act on.
      const missing = decision.kind === 'access' ? decision.missingAuthContext : undefined;
      if (identity !== null && missing !== undefined && missing.length > 0) return stepUp(view, missing);
      return denied(decision, identity);
    },
  };
}
