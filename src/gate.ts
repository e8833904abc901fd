/**
 * `createGate`, the framework-free core: it composes token verification (`token/`), Cloudflare Access
 * (`cloudflare/`), the identity pipeline (`gate/identity.ts`: revocations, standing, groups) and the compiled
 * policies (`gate/policies.ts`). The options live in `gate/options.ts`, the `Gate` interface in `gate/types.ts`.
 */
import { parseWith } from './config/idp.js';
import { cloudHosts } from './config/clouds.js';
import { resolveSessionDuration } from './config/duration.js';
import { KeyStore } from './token/key-store.js';
import { assertAccessToken, TokenVerifier, type VerifiedToken } from './token/verifier.js';
import type { Identity } from './types.js';
import { ConfigError, SessionError, TokenError } from './errors/index.js';
import type { GroupSource } from './groups/types.js';
import { createGroupSourceChain } from './groups/chain.js';
import { createMemoryRevocationList, type RevocationList } from './session/revocation.js';
import { createAccessVerifier, type AccessVerifier } from './cloudflare/verifier.js';
import type { AccessAssertion } from './cloudflare/types.js';
import type { Decision } from './policy/types.js';
import { channels, publish } from './diagnostics.js';
import { gateOptionsSchema, isGroupSource, type ParsedGateOptions } from './gate/options.js';
import type { GateOptions } from './gate/gate-options.js';
import { createIdentityPipeline } from './gate/identity.js';
import { compileGatePolicies } from './gate/policies.js';
import type { Gate, IdentifyOptions } from './gate/types.js';

export type * from './gate/gate-options.js';
export type { AuthorizeContext, CredentialRef, Gate, GateApplication, IdentifyOptions, ResolveContext } from './gate/types.js';

/**
 * Creates a gate from Cloudflare's Entra identity-provider JSON. Everything that
 * can be computed once is computed here; a bad option throws a `ConfigError`
 * (`ERR_CONFIG_INVALID`) synchronously.
 *
 * @example
 * ```ts
 * import { createGate } from 'entragate';
 * const gate = createGate({
 *   idp: { type: 'azureAD', name: 'Entra ID', config: { client_id: process.env.CLIENT_ID!, directory_id: process.env.TENANT_ID! } },
 * });
 * const identity = await gate.verify(bearerToken);
 * console.log(identity.email, identity.membership.state);
 * ```
 */
export function createGate(options: GateOptions): Gate {
  const o: ParsedGateOptions = parseWith(gateOptionsSchema, options, 'gate');
  const idp = o.idp;
  const hosts = cloudHosts(idp.config.azure_cloud, {
    ...(o.authorityHost ? { authorityHost: o.authorityHost } : {}),
    ...(o.graphHost ? { graphHost: o.graphHost } : {}),
  });
  const now = o.now ?? Date.now;
  const keys = new KeyStore({
    authorityHost: hosts.authorityHost,
    fetch: o.fetch ?? globalThis.fetch,
    now,
    timeout: o.jwks.timeoutMs,
    cooldown: o.jwks.cooldownMs,
    failureBackoff: o.jwks.failureBackoffMs,
    refreshInterval: o.jwks.refreshIntervalMs,
  });
  const home = idp.config.directory_id.toLowerCase();
  const tenants = o.tenants === '*' ? ('*' as const) : new Set([home, ...(o.tenants ?? []).map((t) => t.toLowerCase())]);
  const clientId = idp.config.client_id;
  const verifier = new TokenVerifier({
    keys,
    tenants,
    audiences: new Set([clientId, `api://${clientId}`, ...o.audiences]),
    versions: new Set(o.tokenVersions),
    clockTolerance: o.clockToleranceSeconds,
    maxTokenBytes: o.maxTokenBytes,
    mapping: {
      idp: Object.freeze({ id: idp.id ?? idp.uid ?? 'azureAD', type: 'azureAD' }),
      emailClaim: idp.config.email_claim_name,
      claims: idp.config.claims,
      homeTenant: home,
    },
    authorityHost: hosts.authorityHost,
    allowAppTokens: o.allowAppTokens,
    cacheMax: o.tokenCache === false ? 0 : o.tokenCache.max,
    now,
  });

  // A function of the gate builds its sources from the gate's own configuration (`createGraphGroupSource({ gate })`).
  const given = typeof o.groups === 'function' ? o.groups({ idp, hosts }) : o.groups;
  if (typeof o.groups === 'function' && !(Array.isArray(given) ? given.length > 0 && given.every(isGroupSource) : isGroupSource(given))) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid gate configuration: the `groups` function must return a GroupSource ({ name, resolve }) or a non-empty array of them',
    );
  }
  const source =
    given === undefined ? undefined : Array.isArray(given) ? (given.length === 1 ? given[0]! : createGroupSourceChain(given)) : (given as GroupSource);
  const { applications, gateway, warnings, defaultApplication } = compileGatePolicies(o, source);

  const revocations: RevocationList = o.revocations ?? createMemoryRevocationList({ now });
  const tolerance = o.clockToleranceSeconds;
  const scim = idp.scim_config;
  const identityUpdateBehavior =
    scim === undefined
      ? 'no_action'
      : scim.identity_update_behavior === 'no_action' && scim.group_member_deprovision === true
        ? 'reauth'
        : scim.identity_update_behavior;
  const { resolveIdentity, subjectsOf, assertNotRevoked } = createIdentityPipeline({
    source,
    home,
    preferToken: o.tokenGroups === 'prefer',
    revocations,
    tolerance,
  });

  async function identifyToken(token: string, options: IdentifyOptions = {}): Promise<VerifiedToken> {
    const { identity, claims, header } = await verifier.verifyToken(token);
    // INVARIANT: an ID token is never a bearer credential (OpenID Connect Core §2: it is for the client, not an
    // API): a bearer token must be an access token, one with a `scp` or an app-only one (`assertAccessToken`).
    assertAccessToken(claims);
    const app = options.application === undefined ? undefined : applications.get(options.application)?.app;
    // INVARIANT: a user revocation refuses that user's bearer tokens issued before it (within the clock
    // tolerance after it too: the issuer's clock may run ahead of ours); `revokeApp` of the app, its tokens.
    const subjects = subjectsOf(identity, claims);
    assertNotRevoked(
      app === undefined
        ? { subjects, issuedAt: identity.iat, userId: identity.user_uuid }
        : { subjects, issuedAt: identity.iat, appId: app.aud, userId: identity.user_uuid },
    );
    const resolvedIdentity = await resolveIdentity(identity, options.graphToken === undefined ? { claims } : { claims, graphToken: options.graphToken });
    return header === undefined ? { identity: resolvedIdentity, claims } : { identity: resolvedIdentity, claims, header };
  }

  const access = o.cloudflareAccess;
  const accessVerifier: AccessVerifier | undefined =
    access === undefined
      ? undefined
      : createAccessVerifier({
          teamDomain: access.teamDomain,
          aud: access.aud,
          clockToleranceSeconds: o.clockToleranceSeconds,
          idpId: access.idpId ?? idp.id ?? idp.uid ?? 'azureAD',
          ...(access.oidClaim === undefined ? {} : { oidClaim: access.oidClaim }),
          ...(access.tenantId === undefined ? {} : { tenantId: access.tenantId }),
          ...(access.timeoutMs === undefined ? {} : { timeoutMs: access.timeoutMs }),
          ...(access.cooldownMs === undefined ? {} : { cooldownMs: access.cooldownMs }),
          ...(access.failureBackoffMs === undefined ? {} : { failureBackoffMs: access.failureBackoffMs }),
          ...(access.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: access.refreshIntervalMs }),
          ...(access.cacheMax === undefined ? {} : { cacheMax: access.cacheMax }),
          ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
          now,
        });
  // The applications whose own `aud` was given: an assertion presented to one must carry that tag.
  const explicitAud = new Map<string, string>();
  for (const [name, app] of Object.entries(o.applications)) if (app.aud !== undefined) explicitAud.set(name, app.aud);

  async function identifyAccess(assertion: string, options: IdentifyOptions = {}): Promise<AccessAssertion> {
    if (accessVerifier === undefined)
      throw new ConfigError('ERR_CONFIG_INVALID', 'invalid gate configuration: `identifyAccess` needs the `cloudflareAccess` option');
    const result = await accessVerifier.verify(assertion);
    const required = options.application === undefined ? undefined : explicitAud.get(options.application);
    const aud = result.claims.aud;
    // INVARIANT: an assertion for one Access application never opens another application's routes.
    if (required !== undefined && !(aud === required || (Array.isArray(aud) && aud.includes(required)))) {
      throw new TokenError('ERR_TOKEN_AUDIENCE_INVALID', 'the Cloudflare Access assertion is for another application');
    }
    if (result.kind === 'service') return result;
    const identity = result.identity;
    const appAud = options.application === undefined ? undefined : applications.get(options.application)?.app.aud;
    const subjects = subjectsOf(identity, result.claims);
    assertNotRevoked(
      appAud === undefined
        ? { subjects, issuedAt: identity.iat, userId: identity.user_uuid }
        : { subjects, issuedAt: identity.iat, appId: appAud, userId: identity.user_uuid },
    );
    const resolvedIdentity = await resolveIdentity(identity, { claims: result.claims });
    // `resolveIdentity` spreads the identity it is given: the Cloudflare fields (`identity_nonce`, `country`) stay.
    return resolvedIdentity === identity ? result : { ...result, identity: resolvedIdentity as typeof identity };
  }

  async function identify(token: string, options: IdentifyOptions = {}): Promise<Identity> {
    return (await identifyToken(token, options)).identity;
  }

  const durationCache = new Map<string, number>();
  function durationOf(decision: Decision | undefined, name: string | undefined): number {
    const app = name ?? defaultApplication;
    const policy = decision?.kind === 'access' ? decision.sessionDuration : undefined;
    const appDuration = app === undefined ? undefined : applications.get(app)?.app.session_duration;
    const key = `${policy ?? ''}\n${appDuration ?? ''}`;
    let seconds = durationCache.get(key);
    if (seconds === undefined) {
      seconds = resolveSessionDuration({ policy, app: appDuration, global: o.session_duration });
      if (durationCache.size < 1_000) durationCache.set(key, seconds);
    }
    return seconds;
  }

  return {
    idp,
    hosts,
    revocations,
    clockTolerance: tolerance,
    groups: source,
    now,
    identityUpdateBehavior,
    warnings,
    verify: (token, verifyOptions) => verifier.verify(token, verifyOptions),
    verifyToken: (token, verifyOptions) => verifier.verifyToken(token, verifyOptions),
    identify,
    identifyToken,
    cloudflareAccess: accessVerifier,
    identifyAccess,
    resolveIdentity,
    assertNotRevoked,
    subjectsOf,
    async authorize(input, context = {}) {
      const identity =
        typeof input === 'string'
          ? await identify(input, {
              ...(context.graphToken === undefined ? {} : { graphToken: context.graphToken }),
              ...(context.gateway || (context.application ?? defaultApplication) === undefined
                ? {}
                : { application: (context.application ?? defaultApplication)! }),
            })
          : input;
      let decision: Decision;
      let where: string;
      if (context.gateway) {
        if (gateway === undefined)
          throw new ConfigError(
            'ERR_CONFIG_INVALID',
            'invalid gate configuration: `authorize` was asked for a Gateway decision but no `gateway` rules are configured',
          );
        decision = gateway.evaluate(identity, context);
        where = 'gateway';
      } else {
        const name = context.application ?? defaultApplication;
        const app = name === undefined ? undefined : applications.get(name);
        if (app === undefined) {
          throw new ConfigError(
            'ERR_CONFIG_INVALID',
            name === undefined
              ? `invalid gate configuration: \`authorize\` needs \`application\` (configured: ${[...applications.keys()].map((n) => `\`${n}\``).join(', ') || 'none'})`
              : `invalid gate configuration: no application \`${name}\``,
          );
        }
        decision = app.evaluator.evaluate(identity, context);
        where = `applications.${app.app.name}`;
      }
      publish(channels.decision, {
        where,
        allowed: decision.allowed,
        action: decision.action,
        reason: decision.reason,
        policy: decision.policy,
        user: identity?.user_uuid,
        membership: identity?.membership.state,
      });
      const session = context.session;
      if (decision.allowed && session !== undefined) {
        // INVARIANT: a session older than the deciding policy's session duration (else the app's, else the
        // global one) is not honoured, whatever its cookie says: the user signs in again.
        const maxAge = durationOf(decision, session.application ?? (context.gateway ? undefined : context.application));
        if (Math.floor(now() / 1000) - session.issuedAt > maxAge) {
          throw new SessionError('ERR_SESSION_EXPIRED', `the session is older than the ${maxAge} s its policy allows: sign in again`);
        }
      }
      return decision;
    },
    application(name) {
      const key = name ?? defaultApplication;
      return key === undefined ? undefined : applications.get(key)?.app;
    },
    sessionDuration: (decision, name) => durationOf(decision, name),
    clearTokenCache: () => verifier.clearCache(),
  };
}
