/**
 * A small, obviously-correct interpreter of Access policies, written straight
 * from reference §1 and the unknown-membership rule, with no compilation, no
 * index and no caching. The property tests check the compiled evaluator
 * against it. It assumes valid input (the compiler rejects the rest).
 */
import type { Identity, RequestContext } from '../../src/types.js';
import type { AccessPolicy, AccessRule, AccessRuleGroup } from '../../src/policy/types.js';

type K = 'yes' | 'no' | 'maybe';

export interface ReferenceDecision {
  allowed: boolean;
  action: string;
  policyName: string | undefined;
  reason: 'matched' | 'default' | 'unknown-membership' | 'unknown-request' | 'unknown-identity';
}

function or(values: K[]): K {
  if (values.includes('yes')) return 'yes';
  if (values.includes('maybe')) return 'maybe';
  return 'no';
}

function and(values: K[]): K {
  if (values.includes('no')) return 'no';
  if (values.includes('maybe')) return 'maybe';
  return 'yes';
}

function not(value: K): K {
  return value === 'yes' ? 'no' : value === 'no' ? 'yes' : 'maybe';
}

function yesNo(b: boolean): K {
  return b ? 'yes' : 'no';
}

function ipToBigInt(text: string): bigint | undefined {
  if (text.includes(':')) {
    const [head = '', tail = ''] = text.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const parts = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    if (parts.length !== 8) return undefined;
    return parts.reduce((acc, p) => (acc << 16n) + BigInt(parseInt(p, 16)), 0n);
  }
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return undefined;
  return (0xffffn << 32n) + parts.reduce((acc, p) => (acc << 8n) + BigInt(p), 0n);
}

export function inCidr(ip: string | undefined, cidr: string): boolean {
  if (ip === undefined) return false;
  const [net = '', bits] = cidr.split('/');
  const v4 = !net.includes(':');
  const prefix = BigInt((bits === undefined ? (v4 ? 32 : 128) : Number(bits)) + (v4 ? 96 : 0));
  const a = ipToBigInt(ip);
  const b = ipToBigInt(net);
  if (a === undefined || b === undefined) return false;
  const shift = 128n - prefix;
  return a >> shift === b >> shift;
}

export function referenceEvaluate(
  policies: readonly AccessPolicy[],
  groups: readonly AccessRuleGroup[],
  lists: Readonly<Record<string, readonly string[]>>,
  identity: Identity | null,
  context: RequestContext,
): ReferenceDecision {
  // Group ids are known when membership is complete and its fields list them (no fields: ids only).
  const idsKnown = identity !== null && identity.membership.state === 'complete' && (identity.membership.fields ?? ['id']).includes('id');

  function rule(r: AccessRule): K {
    const [selector, body] = Object.entries(r)[0] as [string, Record<string, string>];
    const email = identity?.email.toLowerCase() ?? '';
    switch (selector) {
      case 'everyone':
        return 'yes';
      case 'email':
        return yesNo(identity !== null && email === (body['email'] as string).toLowerCase());
      case 'email_domain':
        return yesNo(
          identity !== null &&
            email.split('@').length > 1 &&
            email.slice(email.lastIndexOf('@') + 1) === (body['domain'] as string).toLowerCase() &&
            email.lastIndexOf('@') > 0,
        );
      case 'email_list':
        return yesNo(identity !== null && (lists[body['id'] as string] ?? []).some((e) => e.toLowerCase() === email));
      case 'login_method':
        return yesNo(identity !== null && identity.idp.id === body['id']);
      case 'auth_method':
        return yesNo(identity !== null && identity.amr.includes(body['auth_method'] as string));
      case 'oidc':
        if (identity === null) return 'no';
        if (body['identity_provider_id'] !== undefined && identity.idp.id !== body['identity_provider_id']) return 'no';
        return yesNo(identity.oidc_fields[body['claim_name'] as string] === body['claim_value']);
      case 'azureAD': {
        if (identity === null) return 'no';
        if (body['identity_provider_id'] !== undefined && identity.idp.id !== body['identity_provider_id']) return 'no';
        if (identity.groups.some((g) => g.id.toLowerCase() === (body['id'] as string).toLowerCase())) return 'yes';
        return idsKnown ? 'no' : 'maybe';
      }
      case 'group': {
        const g = groups.find((x) => x.id === body['id']);
        if (!g) throw new Error('missing group');
        return ruleSet(g.include, g.require ?? [], g.exclude ?? []);
      }
      case 'ip':
        return yesNo(inCidr(context.ip, body['ip'] as string));
      case 'ip_list':
        return yesNo((lists[body['id'] as string] ?? []).some((c) => inCidr(context.ip, c)));
      case 'geo':
        return yesNo(context.country?.toUpperCase() === (body['country_code'] as string).toUpperCase());
      case 'certificate':
        return yesNo(context.certificate?.valid === true);
      case 'common_name':
        return yesNo(context.certificate?.valid === true && context.certificate.commonName === body['common_name']);
      case 'service_token':
        return yesNo(context.serviceToken?.tokenId === body['token_id']);
      case 'any_valid_service_token':
        return yesNo(context.serviceToken !== undefined && context.serviceToken.tokenId !== '');
      case 'device_posture':
        return yesNo((context.devicePosture ?? []).includes(body['integration_uid'] as string));
      default:
        throw new Error(`reference interpreter: unknown selector ${selector}`);
    }
  }

  function ruleSet(include: readonly AccessRule[], require: readonly AccessRule[], exclude: readonly AccessRule[]): K {
    return and([or(include.map(rule)), and(require.map(rule)), not(or(exclude.map(rule)))]);
  }

  const indexed = policies.map((p, i) => ({ p, i, precedence: p.precedence ?? i + 1 }));
  const sortByPrecedence = (list: typeof indexed): typeof indexed => [...list].sort((a, b) => a.precedence - b.precedence || a.i - b.i);
  const first = sortByPrecedence(indexed.filter((x) => x.p.decision === 'bypass' || x.p.decision === 'non_identity'));
  const second = sortByPrecedence(indexed.filter((x) => x.p.decision === 'allow' || x.p.decision === 'deny'));
  // Without an identity, Allow and Block need a login: only the first phase runs.
  const ordered = identity === null ? first : [...first, ...second];

  let sawMaybeAllow = false;
  for (const { p } of ordered) {
    const m = ruleSet(p.include, p.require ?? [], p.exclude ?? []);
    if (m === 'yes') {
      if (p.decision === 'deny') return { allowed: false, action: 'deny', policyName: p.name, reason: sawMaybeAllow ? 'unknown-membership' : 'matched' };
      return { allowed: true, action: p.decision, policyName: p.name, reason: 'matched' };
    }
    if (m === 'maybe') {
      if (p.decision === 'deny') return { allowed: false, action: 'deny', policyName: p.name, reason: 'unknown-membership' };
      sawMaybeAllow = true;
    }
  }
  return { allowed: false, action: 'deny', policyName: undefined, reason: sawMaybeAllow ? 'unknown-membership' : 'default' };
}
