/**
 * Compile options, validated once with zod (never on the hot path).
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { GroupField } from '../types.js';
import type { AccessRuleGroup } from './types.js';

const GATEWAY_ACTIONS = [
  'on', 'off', 'allow', 'block', 'scan', 'noscan', 'safesearch', 'ytrestricted', 'isolate',
  'noisolate', 'override', 'l4_override', 'egress', 'resolve', 'quarantine', 'redirect', 'audit_ssh',
] as const;
const GATEWAY_FILTERS = ['http', 'dns', 'l4', 'egress', 'dns_resolver'] as const;

export { GATEWAY_ACTIONS, GATEWAY_FILTERS };

/** Lists (`email_list`, `ip_list`, `in $<id>`): list id → values. */
const listsSchema = z.record(z.string().min(1), z.array(z.string())).default({});

/** Lists by id. A `Map`, so an id is only ever an own key: `constructor` or `__proto__` names a list or nothing. */
export type ListMap = ReadonlyMap<string, readonly string[]>;

/**
 * The lists as a {@link ListMap}: the validated ones, and a list whose id is `__proto__`, which zod's
 * record drops (assigning it would set the prototype) and is read here from the input's own property.
 */
export function listMap(raw: unknown, parsed: Readonly<Record<string, readonly string[]>>): ListMap {
  const map = new Map<string, readonly string[]>(Object.entries(parsed));
  const input = typeof raw === 'object' && raw !== null ? (raw as { lists?: unknown }).lists : undefined;
  if (typeof input === 'object' && input !== null && Object.hasOwn(input, '__proto__')) {
    const values = (input as Record<string, unknown>)['__proto__'];
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
      throw new ConfigError('ERR_CONFIG_INVALID', 'invalid lists configuration: list `__proto__` must be an array of strings');
    }
    map.set('__proto__', [...(values as string[])]);
  }
  return map;
}

const GROUP_FIELDS = ['id', 'name', 'email'] as const satisfies readonly GroupField[];

export const accessCompileOptionsSchema = z.strictObject({
  /** Reusable rule groups referenced by `{"group":{"id":…}}`; shapes are checked by the compiler with locations. */
  groups: z.array(z.unknown()).default([]),
  /** Lists for `email_list` and `ip_list`. */
  lists: listsSchema,
  /** How deep rule groups may nest. */
  maxGroupDepth: z.number().int().min(1).max(256).default(32),
  /**
   * Whether `auth_context` rules may be used: the IdP's `conditional_access_enabled` (Cloudflare imports the
   * authentication contexts only then). A policy with one otherwise fails to compile.
   */
  authContexts: z.boolean().default(false),
});

export const gatewayCompileOptionsSchema = z.strictObject({
  /** Lists for `in $<list id>`. */
  lists: listsSchema,
  /** The action when no rule matches. Cloudflare's implicit default is to let traffic through. */
  defaultAction: z.enum(GATEWAY_ACTIONS).default('allow'),
  /** The account setting "Match extended email addresses": variants for every action. */
  matchExtendedEmail: z.boolean().default(false),
  /**
   * Keep only rules whose `filters` include this builder; with `http`, the
   * action classes run in Cloudflare's order (Do Not Inspect, Isolate, the rest).
   */
  filter: z.enum(GATEWAY_FILTERS).optional(),
  /** Longest expression accepted, in characters. */
  maxExpressionLength: z.number().int().min(1).max(1_000_000).default(8192),
  /** Deepest nesting of parentheses, `not`, `any`/`all` accepted. */
  maxExpressionDepth: z.number().int().min(1).max(1000).default(64),
  /**
   * The group fields the configured group sources supply (the token claim: `id`; Graph: all three; the
   * directory: `id`, `name`). A rule reading another is listed in `warnings`.
   */
  groupFields: z.array(z.enum(GROUP_FIELDS)).default([...GROUP_FIELDS]),
});

/**
 * Options of {@link compileAccessPolicies} (input form: defaults may be omitted).
 *
 * @example
 * ```ts
 * import type { AccessCompileOptions } from 'entragate';
 * const options: AccessCompileOptions = { groups: [], lists: { vips: ['ceo@example.com'] }, maxGroupDepth: 8 };
 * ```
 */
export type AccessCompileOptions = Omit<z.input<typeof accessCompileOptionsSchema>, 'groups' | 'lists'> & {
  /** Reusable rule groups referenced by `{"group":{"id":…}}`. */
  groups?: readonly AccessRuleGroup[];
  /** Lists for `email_list` and `ip_list`: list id → values. */
  lists?: Readonly<Record<string, readonly string[]>>;
};
/**
 * Options of {@link compileGatewayRules} (input form: defaults may be omitted).
 *
 * @example
 * ```ts
 * import type { GatewayCompileOptions } from 'entragate';
 * const options: GatewayCompileOptions = { filter: 'http', defaultAction: 'allow', matchExtendedEmail: true };
 * ```
 */
export type GatewayCompileOptions = Omit<z.input<typeof gatewayCompileOptionsSchema>, 'lists' | 'groupFields'> & {
  /** Lists for `in $<list id>`: list id → values. */
  lists?: Readonly<Record<string, readonly string[]>>;
  /**
   * The group fields the configured group sources supply, to warn about rules that read another
   * (the compiled set's `warnings`). It changes no decision: a membership says what it knows.
   * @defaultValue `['id', 'name', 'email']` (no warning)
   */
  groupFields?: readonly GroupField[];
};
export type ResolvedAccessOptions = z.output<typeof accessCompileOptionsSchema>;
export type ResolvedGatewayOptions = z.output<typeof gatewayCompileOptionsSchema>;
