/**
 * Compiles one Access rule object (`{"azureAD":{…}}`, `{"email":{…}}`, …) into
 * a closure over a prepared identity view and the request context. Shapes are
 * checked here, with the location of the offending rule in every message.
 */
import { PolicyError } from '../errors/index.js';
import type { RequestContext } from '../types.js';
import { claimMatches, describeClaim, invalid, isObject, leaf, observed, optionalString, stringField } from './access-rule-leaf.js';
import { evaluateRuleSet, traceRuleSet, type CompiledRule, type RuleCompileScope } from './access-rule-set.js';
import { plural } from './decision.js';
import { hasProbe } from './group-index.js';
import { FIELD_ID, fieldNote, type IdentityView } from './identity-view.js';
import { cidrContains, parseCidr, requestIp } from './ip.js';
import { F, T, traceResult, triOf, U, type Tri } from './tri.js';
import type { AccessSelector } from './types.js';

export { invalid, isObject } from './access-rule-leaf.js';
export { evaluateRuleSet, traceRuleSet, type CompiledRule, type CompiledRuleSet, type RuleCompileScope } from './access-rule-set.js';

export const ACCESS_SELECTORS: readonly AccessSelector[] = [
  'email',
  'email_domain',
  'email_list',
  'everyone',
  'group',
  'azureAD',
  'login_method',
  'auth_method',
  'oidc',
  'ip',
  'ip_list',
  'geo',
  'common_name',
  'certificate',
  'service_token',
  'any_valid_service_token',
  'device_posture',
  'auth_context',
];
const KNOWN = new Set<string>(ACCESS_SELECTORS);

/** Documented Cloudflare selectors that need another IdP or a remote call. */
const UNSUPPORTED = new Set([
  'okta',
  'gsuite',
  'github-organization',
  'saml',
  'external_evaluation',
  'user_risk_score',
  'linked_app_token',
  'cloudflare_account_member',
  'login_method_group',
]);

/**
 * Compiles one rule at `path` (`include[0]`). Throws `ERR_POLICY_UNKNOWN_SELECTOR`
 * for a selector entragate does not evaluate, `ERR_POLICY_INVALID` for a bad shape.
 */
export function compileRule(rule: unknown, path: string, scope: RuleCompileScope): CompiledRule {
  const where = `${scope.where}.${path}`;
  if (!isObject(rule)) throw invalid(where, 'a rule must be an object with one selector');
  const keys = Object.keys(rule);
  if (keys.length !== 1) throw invalid(where, `a rule must have exactly one selector, found ${keys.length}`);
  const selector = keys[0] as string;
  if (!KNOWN.has(selector)) {
    const why = UNSUPPORTED.has(selector) ? 'is not supported by entragate' : 'is not known';
    throw new PolicyError('ERR_POLICY_UNKNOWN_SELECTOR', `selector \`${selector}\` ${why}: ${where}`);
  }
  const body = rule[selector];
  if (!isObject(body)) throw invalid(where, `\`${selector}\` must be an object`);
  const s = selector as AccessSelector;

  switch (s) {
    case 'email': {
      const email = stringField(body, 'email', where, s).toLowerCase();
      return leaf(s, path, {
        value: email,
        attribute: 'identity.email',
        identityBased: true,
        evaluate: (v) => triOf(v.emailLower === email),
        detail: (v, _c, r) => (r === T ? undefined : `email is ${observed(v.email)}`),
      });
    }
    case 'email_domain': {
      let domain = stringField(body, 'domain', where, s).toLowerCase();
      if (domain.startsWith('@')) domain = domain.slice(1);
      if (domain === '' || domain.includes('@')) throw invalid(where, `\`email_domain.domain\` \`${domain}\` is not a domain`);
      const suffix = `@${domain}`;
      return leaf(s, path, {
        value: domain,
        attribute: 'identity.email',
        identityBased: true,
        evaluate: (v) => triOf(v.emailLower.length > suffix.length && v.emailLower.endsWith(suffix)),
        detail: (v, _c, r) => (r === T ? undefined : `email is ${observed(v.email)}`),
      });
    }
    case 'email_list': {
      const id = stringField(body, 'id', where, s);
      const list = scope.lists.get(id);
      if (list === undefined) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `list \`${id}\` is not configured: ${where}`);
      const set = new Set(list.map((e) => e.toLowerCase()));
      return leaf(s, path, {
        value: id,
        attribute: 'identity.email',
        identityBased: true,
        evaluate: (v) => triOf(set.has(v.emailLower)),
        detail: (v, _c, r) => (r === T ? undefined : `email is ${observed(v.email)}`),
      });
    }
    case 'everyone':
      return leaf(s, path, { value: '', attribute: 'request', identityBased: false, evaluate: () => T });
    case 'group': {
      const id = stringField(body, 'id', where, s);
      const group = scope.group(id, where);
      const evaluate = (v: IdentityView, c: RequestContext): Tri => evaluateRuleSet(group, v, c);
      return {
        selector: s,
        path,
        value: id,
        attribute: 'rule group',
        identityBased: group.identityBased,
        azureProbe: undefined,
        ...(group.authContexts.length === 0 ? {} : { authContexts: group.authContexts }),
        evaluate,
        trace: (v, c) => {
          const { result, checks } = traceRuleSet(group, v, c);
          return { path, selector: s, value: id, attribute: 'rule group', result: traceResult(result), children: checks };
        },
      };
    }
    case 'azureAD': {
      const raw = stringField(body, 'id', where, s);
      const probe = scope.groups.probe('id', [raw]);
      const idp = optionalString(body, 'identity_provider_id', where, s);
      // INVARIANT: a group the identity is not known to have is `unknown` unless the membership knows
      // group ids (complete, with `id` in its fields): overage, absent or failed resolution is never read
      // as "not a member".
      const evaluate = (v: IdentityView): Tri => {
        if (v.identity === null) return F;
        if (idp !== undefined && v.idpId !== idp) return F;
        if (hasProbe(v.hits, probe)) return T;
        return (v.known & FIELD_ID) !== 0 ? F : U;
      };
      return leaf(s, path, {
        value: raw,
        attribute: 'identity.groups',
        identityBased: true,
        azureProbe: probe,
        evaluate,
        detail: (v, _c, r) => {
          if (v.identity === null) return 'no identity';
          if (idp !== undefined && v.idpId !== idp) return `identity provider ${observed(v.idpId)} is not \`${idp}\``;
          if (r === U) return fieldNote(v, FIELD_ID);
          return r === F ? `not among ${plural(v.groupIds.length, 'group')} (${v.membershipNote})` : undefined;
        },
      });
    }
    case 'auth_context': {
      // INVARIANT: Cloudflare evaluates authentication contexts only with Conditional Access sync on; a rule
      // that could never be honoured is a configuration error, not a silent deny.
      if (!scope.authContexts) {
        throw invalid(where, "`auth_context` rules need the identity provider's `conditional_access_enabled: true`");
      }
      const acId = stringField(body, 'ac_id', where, s);
      if (!/^c([1-9]|[1-9][0-9])$/.test(acId))
        throw invalid(where, `\`auth_context.ac_id\` \`${acId.slice(0, 16)}\` is not an authentication context id (\`c1\`…\`c99\`)`);
      const idp = optionalString(body, 'identity_provider_id', where, s);
      return leaf(s, path, {
        value: acId,
        attribute: 'identity.acrs',
        identityBased: true,
        authContexts: [acId],
        evaluate: (v) => {
          const id = v.identity;
          if (id === null || (idp !== undefined && v.idpId !== idp)) return F;
          return triOf(Array.isArray(id.acrs) && id.acrs.includes(acId));
        },
        detail: (v, _c, r) => {
          if (r === T) return undefined;
          if (v.identity === null) return 'no identity';
          if (idp !== undefined && v.idpId !== idp) return `identity provider ${observed(v.idpId)} is not \`${idp}\``;
          const acrs = v.identity.acrs;
          return Array.isArray(acrs) && acrs.length > 0 ? `acrs is [${acrs.join(', ')}]` : 'no authentication context satisfied (no `acrs`)';
        },
      });
    }
    case 'login_method': {
      const id = stringField(body, 'id', where, s);
      return leaf(s, path, {
        value: id,
        attribute: 'identity.idp.id',
        identityBased: true,
        evaluate: (v) => triOf(v.identity !== null && v.idpId === id),
        detail: (v, _c, r) => (r === T ? undefined : `identity provider is ${observed(v.idpId)}`),
      });
    }
    case 'auth_method': {
      const method = stringField(body, 'auth_method', where, s);
      return leaf(s, path, {
        value: method,
        attribute: 'identity.amr',
        identityBased: true,
        evaluate: (v) => triOf(v.amr.includes(method)),
        detail: (v, _c, r) => (r === T ? undefined : `amr is [${v.amr.join(', ')}]`),
      });
    }
    case 'oidc': {
      const name = stringField(body, 'claim_name', where, s);
      const value = stringField(body, 'claim_value', where, s);
      const idp = optionalString(body, 'identity_provider_id', where, s);
      return leaf(s, path, {
        value: `${name}=${value}`,
        attribute: `identity.oidc_fields.${name}`,
        identityBased: true,
        evaluate: (v) => {
          const id = v.identity;
          if (id === null || (idp !== undefined && v.idpId !== idp)) return F;
          const fields = id.oidc_fields;
          return triOf(typeof fields === 'object' && fields !== null && Object.hasOwn(fields, name) && claimMatches(fields[name], value));
        },
        detail: (v, _c, r) => {
          if (r === T) return undefined;
          if (v.identity === null) return 'no identity';
          if (idp !== undefined && v.idpId !== idp) return `identity provider ${observed(v.idpId)} is not \`${idp}\``;
          return `claim \`${name}\` is ${describeClaim(v.identity.oidc_fields, name)}`;
        },
      });
    }
    case 'ip': {
      const text = stringField(body, 'ip', where, s);
      const cidr = parseCidr(text);
      if (!cidr) throw invalid(where, `\`ip.ip\` \`${text}\` is not an IPv4 or IPv6 address or CIDR`);
      return leaf(s, path, {
        value: text,
        attribute: 'context.ip',
        identityBased: false,
        evaluate: (_v, c) => {
          const ip = requestIp(c);
          return triOf(ip !== null && cidrContains(cidr, ip));
        },
        detail: (_v, c, r) => (r === T ? undefined : `request ip is ${observed(c.ip)}`),
      });
    }
    case 'ip_list': {
      const id = stringField(body, 'id', where, s);
      let cidrs = scope.cidrLists.get(id);
      if (!cidrs) {
        const list = scope.lists.get(id);
        if (list === undefined) throw new PolicyError('ERR_POLICY_GROUP_MISSING', `list \`${id}\` is not configured: ${where}`);
        cidrs = list.map((text, i) => {
          const cidr = parseCidr(text);
          if (!cidr) throw invalid(`lists.${id}[${i}]`, `\`${text}\` is not an IPv4 or IPv6 address or CIDR`);
          return cidr;
        });
        scope.cidrLists.set(id, cidrs);
      }
      const all = cidrs;
      return leaf(s, path, {
        value: id,
        attribute: 'context.ip',
        identityBased: false,
        evaluate: (_v, c) => {
          const ip = requestIp(c);
          if (ip === null) return F;
          for (const cidr of all) if (cidrContains(cidr, ip)) return T;
          return F;
        },
        detail: (_v, c, r) => (r === T ? undefined : `request ip is ${observed(c.ip)}`),
      });
    }
    case 'geo': {
      const code = stringField(body, 'country_code', where, s).toUpperCase();
      return leaf(s, path, {
        value: code,
        attribute: 'context.country',
        identityBased: false,
        evaluate: (_v, c) => triOf(typeof c.country === 'string' && c.country.toUpperCase() === code),
        detail: (_v, c, r) => (r === T ? undefined : `country is ${observed(c.country)}`),
      });
    }
    case 'common_name': {
      const cn = stringField(body, 'common_name', where, s);
      return leaf(s, path, {
        value: cn,
        attribute: 'context.certificate',
        identityBased: false,
        evaluate: (_v, c) => triOf(c.certificate?.valid === true && c.certificate.commonName === cn),
        detail: (_v, c, r) =>
          r === T ? undefined : c.certificate?.valid === true ? `common name is ${observed(c.certificate.commonName)}` : 'no valid certificate',
      });
    }
    case 'certificate':
      return leaf(s, path, {
        value: '',
        attribute: 'context.certificate',
        identityBased: false,
        evaluate: (_v, c) => triOf(c.certificate?.valid === true),
        detail: (_v, _c, r) => (r === T ? undefined : 'no valid certificate'),
      });
    case 'service_token': {
      const id = stringField(body, 'token_id', where, s);
      return leaf(s, path, {
        value: id,
        attribute: 'context.serviceToken',
        identityBased: false,
        evaluate: (_v, c) => triOf(c.serviceToken?.tokenId === id),
        detail: (_v, c, r) => (r === T ? undefined : c.serviceToken ? 'another service token' : 'no service token'),
      });
    }
    case 'any_valid_service_token':
      return leaf(s, path, {
        value: '',
        attribute: 'context.serviceToken',
        identityBased: false,
        evaluate: (_v, c) => triOf(typeof c.serviceToken?.tokenId === 'string' && c.serviceToken.tokenId.length > 0),
        detail: (_v, _c, r) => (r === T ? undefined : 'no service token'),
      });
    case 'device_posture': {
      const uid = stringField(body, 'integration_uid', where, s);
      return leaf(s, path, {
        value: uid,
        attribute: 'context.devicePosture',
        identityBased: false,
        evaluate: (_v, c) => triOf(Array.isArray(c.devicePosture) && c.devicePosture.includes(uid)),
        detail: (_v, c, r) => (r === T ? undefined : `passed checks: [${Array.isArray(c.devicePosture) ? c.devicePosture.join(', ') : ''}]`),
      });
    }
  }
}
