import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { idpConfigSchema } from '../config/idp.js';
import { EntragateError } from '../errors/index.js';
import { compileAccessPolicies, type CompiledAccessPolicies } from '../policy/access-compile.js';
import { compileGatewayRules, type CompiledGatewayRules } from '../policy/gateway-compile.js';
import type { AccessPolicy, AccessRuleGroup, GatewayAction, GatewayRule } from '../policy/types.js';
import type { GroupField, GroupMembership, GroupRef, Identity, RequestContext } from '../types.js';

/**
 * The configuration file the CLI reads (`entragate.json`): the parts of the gate
 * options that are data. Every key is optional; `check` validates what is there.
 */
export interface CliConfig {
  idp?: unknown;
  applications?: Record<string, { policies: AccessPolicy[]; session_duration?: string; aud?: string }>;
  ruleGroups?: AccessRuleGroup[];
  lists?: Record<string, string[]>;
  gateway?: { rules: GatewayRule[]; defaultAction?: GatewayAction; matchExtendedEmail?: boolean; filter?: 'http' | 'dns' | 'l4' | 'egress' | 'dns_resolver' };
}

/** A problem found in a file, with where. */
export interface Problem {
  location: string;
  message: string;
}

/** A usage or input error: printed as is, exit code 2. */
export class CliError extends Error {}

/** Reads and parses a JSON file; a missing file or bad JSON is a `CliError` naming the file. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch {
    throw new CliError(`cannot read \`${path}\``);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`\`${path}\` is not valid JSON: ${jsonProblem(error, text)}`);
  }
}

/**
 * Where and why JSON does not parse, without the parser's excerpt of the file:
 * V8 quotes the text around the error (`Unexpected token 'S', ..."_secret": Sup3r"...`),
 * and a configuration file holds the client secret. INVARIANT: no file content is printed.
 */
function jsonProblem(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  const at = / in JSON at position (\d+)/.exec(message);
  if (at !== null) {
    const before = text.slice(0, Number(at[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    return `${message.slice(0, at.index).replace(/ \(line \d+ column \d+\)$/, '')} at line ${line}, column ${column}`;
  }
  if (message.startsWith('Unexpected end of JSON input')) return 'unexpected end of JSON input';
  return 'an unexpected token (the excerpt is not shown: the file may hold secrets)';
}

/** A plain object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the shape of a config file and compiles every part separately, so every problem is reported. */
export function checkConfig(value: unknown, file: string): Problem[] {
  const problems: Problem[] = [];
  const at = (where: string, message: string) => problems.push({ location: where === '' ? file : `${file}: ${where}`, message });
  if (!isObject(value)) {
    at('', 'the configuration must be a JSON object');
    return problems;
  }
  for (const key of Object.keys(value)) {
    if (!['idp', 'applications', 'ruleGroups', 'lists', 'gateway'].includes(key))
      at(key, `unknown key \`${key}\` (expected idp, applications, ruleGroups, lists, gateway)`);
  }
  if (value.idp !== undefined) {
    const parsed = idpConfigSchema.safeParse(value.idp);
    if (!parsed.success) for (const issue of parsed.error.issues) at(['idp', ...issue.path.map(String)].join('.'), issue.message);
  }
  const lists = isObject(value.lists) ? (value.lists as Record<string, string[]>) : {};
  if (value.lists !== undefined && !isObject(value.lists)) at('lists', '`lists` must be an object of list id → values');
  for (const [id, list] of Object.entries(lists)) {
    if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) at(`lists.${id}`, 'a list must be an array of strings');
  }
  const groups = Array.isArray(value.ruleGroups) ? (value.ruleGroups as AccessRuleGroup[]) : [];
  if (value.ruleGroups !== undefined && !Array.isArray(value.ruleGroups)) at('ruleGroups', '`ruleGroups` must be an array');
  // Compile all rule groups; on a failure, report it at the group it names, stand a harmless
  // stub in for that group and go again, so every broken group is reported once.
  const usable: AccessRuleGroup[] = [...groups];
  for (let round = 0; round <= groups.length; round++) {
    try {
      compileAccessPolicies([], { groups: usable, lists, authContexts: conditionalAccessOf(value) });
      break;
    } catch (error) {
      const index = /groups\[(\d+)\]/.exec(messageOf(error))?.[1];
      at(index === undefined ? 'ruleGroups' : `ruleGroups[${index}]`, messageOf(error));
      if (index === undefined) break;
      const n = Number(index);
      const broken = usable[n] as unknown;
      const id = isObject(broken) && typeof broken.id === 'string' && broken.id !== '' ? broken.id : `invalid-${n}`;
      usable[n] = { id, name: id, include: [{ everyone: {} }] };
    }
  }
  if (value.applications !== undefined) {
    if (!isObject(value.applications)) at('applications', '`applications` must be an object of application name → { policies }');
    else {
      for (const [name, app] of Object.entries(value.applications)) {
        if (!isObject(app) || !Array.isArray(app.policies)) {
          at(`applications.${name}`, 'an application must be an object with a `policies` array');
          continue;
        }
        (app.policies as AccessPolicy[]).forEach((policy, i) => {
          try {
            // Broken rule groups were reported above; their stubs keep them out of the policies' problems.
            compileAccessPolicies([policy], { groups: usable, lists, authContexts: conditionalAccessOf(value) });
          } catch (error) {
            at(`applications.${name}`, messageOf(error).replace(/policies\[0\]/g, `policies[${i}]`));
          }
        });
      }
    }
  }
  if (value.gateway !== undefined) {
    const gateway = value.gateway;
    if (!isObject(gateway) || !Array.isArray(gateway.rules)) at('gateway', '`gateway` must be an object with a `rules` array');
    else {
      const options = gatewayOptions(gateway as CliConfig['gateway'] & object, lists);
      (gateway.rules as GatewayRule[]).forEach((rule, i) => {
        try {
          compileGatewayRules([rule], options);
        } catch (error) {
          at('gateway', messageOf(error).replace(/rules\[0\]/g, `rules[${i}]`));
        }
      });
    }
  }
  return problems;
}

function messageOf(error: unknown): string {
  if (error instanceof EntragateError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

function gatewayOptions(gateway: NonNullable<CliConfig['gateway']>, lists: Record<string, string[]>) {
  return {
    lists,
    ...(gateway.defaultAction === undefined ? {} : { defaultAction: gateway.defaultAction }),
    ...(gateway.matchExtendedEmail === undefined ? {} : { matchExtendedEmail: gateway.matchExtendedEmail }),
    ...(gateway.filter === undefined ? {} : { filter: gateway.filter }),
  };
}

/** The compiled evaluators of a (checked) config. */
export interface CompiledConfig {
  application(name: string | undefined): CompiledAccessPolicies;
  gateway(): CompiledGatewayRules;
}

/** Compiles a config that passed `checkConfig`; an unknown application is a `CliError`. */
export function compileConfig(config: CliConfig): CompiledConfig {
  const lists = config.lists ?? {};
  const groups = config.ruleGroups ?? [];
  const apps = new Map<string, CompiledAccessPolicies>();
  let gateway: CompiledGatewayRules | undefined;
  const names = Object.keys(config.applications ?? {});
  return {
    application(name) {
      const key = name ?? (names.length === 1 ? names[0] : undefined);
      if (key === undefined)
        throw new CliError(`say which application decides (\`--application\`): ${names.map((n) => `\`${n}\``).join(', ') || 'none configured'}`);
      const app = config.applications?.[key];
      if (app === undefined) throw new CliError(`no application \`${key}\` in the configuration`);
      let compiled = apps.get(key);
      if (compiled === undefined) apps.set(key, (compiled = compileAccessPolicies(app.policies, { groups, lists, authContexts: conditionalAccessOf(config) })));
      return compiled;
    },
    gateway() {
      if (config.gateway === undefined) throw new CliError('the configuration has no `gateway` rules');
      gateway ??= compileGatewayRules(config.gateway.rules, gatewayOptions(config.gateway, lists));
      return gateway;
    },
  };
}

/**
 * An identity as a test file or `eval` writes it: only what matters, the rest
 * defaulted. `groups` are ids or `{ id, name }`; `membership` defaults to
 * `complete` when `groups` is given, else `absent`. A `complete` membership
 * the file states knows what the file can say, group ids and names
 * (`fields: ["id", "name"]`); `"fields": ["id"]` on the identity models the
 * token claim, which carries ids only (a rule on names is then unknown).
 */
export function toIdentity(input: unknown, where: string): Identity | null {
  if (input === null || input === undefined) return null;
  if (!isObject(input)) throw new CliError(`${where}: an identity must be an object or null`);
  const groups: GroupRef[] = [];
  if (input.groups !== undefined) {
    if (!Array.isArray(input.groups)) throw new CliError(`${where}.groups: must be an array of group ids or { id, name }`);
    for (const g of input.groups) {
      if (typeof g === 'string') groups.push({ id: g });
      else if (isObject(g) && typeof g.id === 'string') groups.push({ id: g.id, ...(typeof g.name === 'string' ? { name: g.name } : {}) });
      else throw new CliError(`${where}.groups: must be an array of group ids or { id, name }`);
    }
  }
  let fields: readonly GroupField[] = ['id', 'name'];
  if (input.fields !== undefined) {
    if (!Array.isArray(input.fields) || !input.fields.every((f) => f === 'id' || f === 'name' || f === 'email')) {
      throw new CliError(`${where}.fields: must be an array of \`id\`, \`name\`, \`email\``);
    }
    fields = input.fields as GroupField[];
  }
  let membership: GroupMembership;
  const m = input.membership;
  if (m === undefined) membership = input.groups === undefined ? { state: 'absent' } : { state: 'complete', source: 'static', fields };
  else if (m === 'complete') membership = { state: 'complete', source: 'static', fields };
  else if (m === 'absent') membership = { state: 'absent' };
  else if (m === 'overage') membership = { state: 'overage', signal: 'claim_names' };
  else if (m === 'unknown') membership = { state: 'unknown', reason: 'stated unknown by the test case', code: 'ERR_GROUPS_UNAVAILABLE' };
  else if (isObject(m) && typeof m.state === 'string') membership = m as unknown as GroupMembership;
  else throw new CliError(`${where}.membership: must be complete, absent, overage or unknown`);
  const str = (k: string, d = ''): string => (typeof input[k] === 'string' ? (input[k] as string) : d);
  const oid = str('oid', str('user_uuid', '00000000-0000-0000-0000-000000000000'));
  return {
    email: str('email'),
    ...(typeof input.name === 'string' ? { name: input.name } : {}),
    user_uuid: str('user_uuid', oid),
    idp: { id: str('idp', 'azureAD'), type: 'azureAD' },
    amr: Array.isArray(input.amr) ? input.amr.filter((a): a is string => typeof a === 'string') : ['pwd'],
    groups,
    membership,
    oidc_fields: isObject(input.oidc_fields) ? input.oidc_fields : {},
    oid,
    tid: str('tid'),
    sub: str('sub', oid),
    iat: 0,
    exp: 0,
    ver: '2.0',
  };
}

/**
 * A request context as written in JSON: `ip`, `country`, `certificate`, `serviceToken`, `devicePosture`,
 * and `request` (`{ "method": "GET", "host": "app.example.com", "url": "/orders?page=2" }`, `url` being the
 * path and query as received) for Gateway's `http.request.*` fields. Without `request` those fields are
 * unknown and the rules that read them fail closed, as for a request nobody described.
 */
export function toContext(input: unknown, where: string): RequestContext {
  if (input === undefined || input === null) return {};
  if (!isObject(input)) throw new CliError(`${where}: a context must be an object`);
  const request = input.request;
  if (
    request !== undefined &&
    (!isObject(request) || typeof request.method !== 'string' || typeof request.host !== 'string' || typeof request.url !== 'string')
  ) {
    throw new CliError(`${where}.request: must be an object with string \`method\`, \`host\` and \`url\` (the path and query, \`/orders?page=2\`)`);
  }
  return input as RequestContext;
}

/** The IdP's `conditional_access_enabled`, which `auth_context` rules need (as the gate reads it). */
function conditionalAccessOf(config: unknown): boolean {
  const idp = isObject(config) ? config.idp : undefined;
  const inner = isObject(idp) ? idp.config : undefined;
  return isObject(inner) && inner.conditional_access_enabled === true;
}
