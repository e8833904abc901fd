/**
 * Compile options, validated once by hand at compile time (never on the hot path; the pure core imports no zod).
 */
import { ConfigError } from '../errors/index.js';
import type { GroupField } from '../types.js';
import type { AccessRuleGroup, GatewayAction, GatewayFilter } from './types.js';

const GATEWAY_ACTIONS = [
  'on',
  'off',
  'allow',
  'block',
  'scan',
  'noscan',
  'safesearch',
  'ytrestricted',
  'isolate',
  'noisolate',
  'override',
  'l4_override',
  'egress',
  'resolve',
  'quarantine',
  'redirect',
  'audit_ssh',
] as const;
const GATEWAY_FILTERS = ['http', 'dns', 'l4', 'egress', 'dns_resolver'] as const;

export { GATEWAY_ACTIONS, GATEWAY_FILTERS };

/** Lists by id. A `Map`, so an id is only ever an own key: `constructor` or `__proto__` names a list or nothing. */
export type ListMap = ReadonlyMap<string, readonly string[]>;

const GROUP_FIELDS = ['id', 'name', 'email'] as const satisfies readonly GroupField[];

/**
 * A hand-written strict-object check (the pure core imports no zod): every problem is collected as
 * `✖ message\n  → at path`, the layout of zod's `prettifyError` the rest of the configuration uses.
 */
class OptionReader {
  readonly problems: string[] = [];
  readonly input: Readonly<Record<string, unknown>>;

  constructor(raw: unknown, keys: readonly string[]) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.problems.push('✖ Invalid input: expected object');
      this.input = {};
      return;
    }
    this.input = raw as Record<string, unknown>;
    const unknown = Object.keys(raw).filter((k) => !keys.includes(k));
    if (unknown.length > 0) this.problems.push(`✖ Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  }

  private fail(key: string, message: string): undefined {
    this.problems.push(`✖ ${message}\n  → at ${key}`);
    return undefined;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.input[key];
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    this.fail(key, 'Invalid input: expected boolean');
    return fallback;
  }

  integer(key: string, min: number, max: number, fallback: number): number {
    const v = this.input[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, 'Invalid input: expected int');
    else if (v < min || v > max) this.fail(key, `Too ${v < min ? 'small' : 'big'}: expected number to be ${v < min ? `>=${min}` : `<=${max}`}`);
    else return v;
    return fallback;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.input[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    return this.fail(key, `Invalid option: expected one of ${values.map((x) => JSON.stringify(x)).join('|')}`);
  }

  array(key: string): readonly unknown[] | undefined {
    const v = this.input[key];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v : this.fail(key, 'Invalid input: expected array');
  }

  /**
   * Lists (`email_list`, `ip_list`, `in $<id>`): list id → values, as a {@link ListMap}. Own keys only, so a
   * list whose id is `__proto__` is a list like any other (never the prototype).
   */
  lists(key: string): ListMap {
    const map = new Map<string, readonly string[]>();
    const v = this.input[key];
    if (v === undefined) return map;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(key, 'Invalid input: expected record');
      return map;
    }
    for (const id of Object.keys(v)) {
      const values = (v as Record<string, unknown>)[id];
      if (id === '') this.fail(key, 'Too small: expected string to have >=1 characters');
      else if (!Array.isArray(values) || !values.every((x) => typeof x === 'string')) this.fail(`${key}.${id}`, 'Invalid input: expected array of strings');
      else map.set(id, [...(values as string[])]);
    }
    return map;
  }

  done<T>(what: string, value: T): T {
    if (this.problems.length > 0) throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration:\n${this.problems.join('\n')}`);
    return value;
  }
}

/** Validates the options of {@link compileAccessPolicies} once, at compile time, and fills in the defaults. */
export function resolveAccessOptions(options: unknown): ResolvedAccessOptions {
  const r = new OptionReader(options ?? {}, ['groups', 'lists', 'maxGroupDepth', 'authContexts']);
  return r.done('access policy', {
    groups: r.array('groups') ?? [],
    lists: r.lists('lists'),
    maxGroupDepth: r.integer('maxGroupDepth', 1, 256, 32),
    authContexts: r.boolean('authContexts', false),
  });
}

/** Validates the options of {@link compileGatewayRules} once, at compile time, and fills in the defaults. */
export function resolveGatewayOptions(options: unknown): ResolvedGatewayOptions {
  const r = new OptionReader(options ?? {}, [
    'lists',
    'defaultAction',
    'matchExtendedEmail',
    'filter',
    'maxExpressionLength',
    'maxExpressionDepth',
    'groupFields',
  ]);
  const fields = r.array('groupFields');
  const groupFields: GroupField[] = [];
  fields?.forEach((f, i) => {
    if (typeof f === 'string' && (GROUP_FIELDS as readonly string[]).includes(f)) groupFields.push(f as GroupField);
    else r.problems.push(`✖ Invalid option: expected one of ${GROUP_FIELDS.map((x) => JSON.stringify(x)).join('|')}\n  → at groupFields[${i}]`);
  });
  return r.done('gateway rule', {
    lists: r.lists('lists'),
    defaultAction: r.oneOf('defaultAction', GATEWAY_ACTIONS) ?? 'allow',
    matchExtendedEmail: r.boolean('matchExtendedEmail', false),
    filter: r.oneOf('filter', GATEWAY_FILTERS),
    maxExpressionLength: r.integer('maxExpressionLength', 1, 1_000_000, 8192),
    maxExpressionDepth: r.integer('maxExpressionDepth', 1, 1000, 64),
    groupFields: fields === undefined ? [...GROUP_FIELDS] : groupFields,
  });
}

/**
 * Options of {@link compileAccessPolicies} (input form: defaults may be omitted).
 *
 * @example
 * ```ts
 * import type { AccessCompileOptions } from 'entragate';
 * const options: AccessCompileOptions = { groups: [], lists: { vips: ['ceo@example.com'] }, maxGroupDepth: 8 };
 * ```
 */
export interface AccessCompileOptions {
  /**
   * Reusable rule groups referenced by `{"group":{"id":…}}`; shapes are checked by the compiler with locations.
   * @defaultValue `[]`
   */
  groups?: readonly AccessRuleGroup[] | undefined;
  /** Lists for `email_list` and `ip_list`: list id → values. @defaultValue `{}` */
  lists?: Readonly<Record<string, readonly string[]>> | undefined;
  /** How deep rule groups may nest (1–256). @defaultValue `32` */
  maxGroupDepth?: number | undefined;
  /**
   * Whether `auth_context` rules may be used: the IdP's `conditional_access_enabled` (Cloudflare imports the
   * authentication contexts only then). A policy with one otherwise fails to compile.
   * @defaultValue `false`
   */
  authContexts?: boolean | undefined;
}
/**
 * Options of {@link compileGatewayRules} (input form: defaults may be omitted).
 *
 * @example
 * ```ts
 * import type { GatewayCompileOptions } from 'entragate';
 * const options: GatewayCompileOptions = { filter: 'http', defaultAction: 'allow', matchExtendedEmail: true };
 * ```
 */
export interface GatewayCompileOptions {
  /** Lists for `in $<list id>`: list id → values. @defaultValue `{}` */
  lists?: Readonly<Record<string, readonly string[]>> | undefined;
  /** The action when no rule matches. Cloudflare's implicit default is to let traffic through. @defaultValue `'allow'` */
  defaultAction?: GatewayAction | undefined;
  /** The account setting "Match extended email addresses": variants for every action. @defaultValue `false` */
  matchExtendedEmail?: boolean | undefined;
  /**
   * Keep only rules whose `filters` include this builder; with `http`, the
   * action classes run in Cloudflare's order (Do Not Inspect, Isolate, the rest).
   * @defaultValue every rule
   */
  filter?: GatewayFilter | undefined;
  /** Longest expression accepted, in characters (1–1,000,000). @defaultValue `8192` */
  maxExpressionLength?: number | undefined;
  /** Deepest nesting of parentheses, `not`, `any`/`all` accepted (1–1000). @defaultValue `64` */
  maxExpressionDepth?: number | undefined;
  /**
   * The group fields the configured group sources supply, to warn about rules that read another
   * (the compiled set's `warnings`). It changes no decision: a membership says what it knows.
   * @defaultValue `['id', 'name', 'email']` (no warning)
   */
  groupFields?: readonly GroupField[] | undefined;
}

/** {@link AccessCompileOptions} validated, with their defaults. */
export interface ResolvedAccessOptions {
  readonly groups: readonly unknown[];
  readonly lists: ListMap;
  readonly maxGroupDepth: number;
  readonly authContexts: boolean;
}

/** {@link GatewayCompileOptions} validated, with their defaults. */
export interface ResolvedGatewayOptions {
  readonly lists: ListMap;
  readonly defaultAction: GatewayAction;
  readonly matchExtendedEmail: boolean;
  readonly filter: GatewayFilter | undefined;
  readonly maxExpressionLength: number;
  readonly maxExpressionDepth: number;
  readonly groupFields: readonly GroupField[];
}
