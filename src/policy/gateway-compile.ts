/**
 * Compiles Cloudflare Gateway rules (API JSON) once into an evaluator that is
 * pure and synchronous.
 */
import type { GroupField } from '../types.js';
import { invalid, isObject } from './access-rules.js';
import { compilePart, type EmailMode, type ExpressionFn } from './expression-compile.js';
import { parseExpression, type Expr } from './expression-parser.js';
import { EXTENDED_EMAIL_ACTIONS } from './extended-email.js';
import { GatewayEvaluator, PASS_ACTIONS, type CompiledGatewayRule, type CompiledGatewayRules } from './gateway-evaluate.js';
import { GroupIndex } from './group-index.js';
import { HttpRequestState, isHttpField } from './http-request.js';
import { fieldBit } from './identity-view.js';
import { GATEWAY_ACTIONS, GATEWAY_FILTERS, resolveGatewayOptions, type GatewayCompileOptions } from './options.js';
import type { DecisionPolicyRef, GatewayAction, GatewayFilter, GatewayRule } from './types.js';

export type { CompiledGatewayRules } from './gateway-evaluate.js';

const PARTS = ['identity', 'traffic', 'device_posture'] as const;

/** Calls `visit` with every field an expression reads. */
function eachField(expr: Expr, visit: (field: string) => void): void {
  switch (expr.k) {
    case 'compare':
    case 'quant':
      visit(expr.field);
      if (expr.k === 'quant') eachField(expr.arg, visit);
      return;
    case 'not':
      eachField(expr.arg, visit);
      return;
    case 'logic':
      for (const item of expr.items) eachField(item, visit);
  }
}

const GROUP_PREFIX = 'identity.groups.';

/** `ids`, `ids and names`: the group fields a set of sources supplies, for a warning. */
function describeFields(fields: readonly GroupField[]): string {
  const words = (['id', 'name', 'email'] as const).filter((f) => fields.includes(f)).map((f) => `${f === 'email' ? 'emails' : `${f}s`}`);
  return words.length === 0 ? 'no group field' : `${words.join(' and ')} only`;
}

const ACTIONS = new Set<string>(GATEWAY_ACTIONS);
const FILTERS = new Set<string>(GATEWAY_FILTERS);

/** HTTP rules run by action class: Do Not Inspect, then Isolate, then everything else. */
function httpClass(action: GatewayAction): number {
  return action === 'off' ? 0 : action === 'isolate' ? 1 : 2;
}

/**
 * Compiles Gateway rules, in Cloudflare's API JSON, into an evaluator.
 *
 * A rule matches when each of its present, non-empty expressions (`identity`,
 * `traffic`, `device_posture`) is true. Enabled rules run by ascending
 * `precedence` (ties in array order); with `filter: 'http'` the Do Not Inspect
 * and then Isolate rules run first, as Cloudflare orders HTTP policies. The
 * first match decides, whatever its action; no match gives `defaultAction`
 * (`allow` by default: Cloudflare lets unmatched traffic through).
 *
 * Expressions use the identity subset of wirefilter (reference §2.4) over
 * `identity.email`, `identity.name`, `identity.groups.id|name|email`,
 * `device_posture.checks.passed` (from `context.devicePosture`), and the
 * request fields `net.src.ip` (from `context.ip`: `==`, `!=`, `in {10.0.0.0/8 …}`,
 * `in $list`), `net.src.geo.country` (from `context.country`), and the HTTP
 * fields from `context.request`: `http.request.host` (lower-cased, without port
 * or trailing dot, compared case-insensitively), `http.request.method`,
 * `http.request.uri.path` (before the `?`), `http.request.uri.query` (after it)
 * and `http.request.uri.path_and_query` (as received, percent-encoded), all
 * Bytes. Path rules see the path as the client sent it, not as the app routes
 * it: by default Express routes `/ADMIN` and Fastify routes `/%61dmin` to the
 * `/admin` handler, so a Block on a path is best written with `(?i)` and backed
 * by Allow rules with `defaultAction: 'block'`. An IP or country the context lacks reads as empty: no IP is in no
 * range. Any other field (`dns.fqdn`, `http.request.domains`, …) is an
 * `ERR_EXPRESSION_TYPE` compile error: a rule is never half-evaluated.
 *
 * The grammar is wirefilter's (`cloudflare/wirefilter`): leading and trailing
 * Unicode whitespace is trimmed; set items are separated by whitespace (a comma
 * is a syntax error); `net.src.ip` sets take addresses, CIDRs (no host bits)
 * and ranges `a..b`, `==`/`!=` one address; `wildcard` (ASCII case-insensitive)
 * and `strict wildcard` match the whole value, `*` for any bytes; a function
 * call other than `any()`/`all()` (`lower()`, `len()`, …) is refused by name,
 * as Gateway documents none. `matches` runs as wirefilter's Rust regex does, on
 * bytes with Unicode off (`.` is one byte, `\w` and `(?i)` are ASCII), on
 * re2js (RE2, linear time); a pattern RE2 cannot run, or syntax Rust's regex
 * reads otherwise, is `ERR_EXPRESSION_REGEX`.
 *
 * Unknowns fail closed. Without an identity (`evaluate(null, …)`, a request
 * without a login) every `identity.*` comparison is `unknown`: so is
 * `not(any(identity.groups.id[*] in {…}))`, and `identity.email != "x"`; a rule that
 * reads no identity field (`http.*`, `net.*` only) still decides. An
 * `any(identity.groups.X[*] …)` that finds no value is `unknown` unless
 * the membership knows field X (it is complete and lists X in `fields`; absent
 * `fields` means ids only, as the token claim supplies); a value a group carries
 * is a known fact, so a name that is present matches. An `http.*` comparison is
 * `unknown` when the context has no `request` (`gate.authorize` called without
 * one; the adapters always set it). An unknown Block (or other restricting
 * action) denies; an unknown Allow-type rule is passed over. The decision says
 * why: `reason: 'unknown-identity'`, `'unknown-membership'` or `'unknown-request'`.
 * `groupFields` names the fields the configured sources supply; a rule reading
 * another is listed in `warnings`.
 *
 * Extended email (§2.5): for block, override, safesearch, ytrestricted, isolate
 * and audit_ssh (or every action with `matchExtendedEmail`), `identity.email`
 * `==`, `!=` and `in` also match addresses without `+tag` and dots in the local
 * part. A variant never escapes a restricting rule: a comparison that narrows it
 * (`!=`, or under `not`) reads the exact address, so Block
 * `identity.email != "alice@x"` exempts `alice@x` only. In an Allow-type rule
 * with `matchExtendedEmail`, every comparison reads variants, so an exclusion
 * excludes them too.
 *
 * @example
 * ```ts
 * import { compileGatewayRules } from 'entragate';
 * const rules = compileGatewayRules([
 *   { name: 'block contractors', action: 'block', precedence: 10,
 *     identity: 'any(identity.groups.name[*] in {"Contractors"})' },
 * ]);
 * const decision = rules.evaluate(identity, {});
 * decision.allowed; // false for members of Contractors
 * ```
 */
export function compileGatewayRules(rules: readonly GatewayRule[], options: GatewayCompileOptions = {}): CompiledGatewayRules {
  const opts = resolveGatewayOptions(options);
  if (!Array.isArray(rules)) throw invalid('rules', '`rules` must be an array');
  const lists = opts.lists;
  const limits = { maxLength: opts.maxExpressionLength, maxDepth: opts.maxExpressionDepth };
  let suppliedBits = 0;
  for (const f of opts.groupFields) suppliedBits |= fieldBit(f);
  const warnings: string[] = [];
  const kept: (CompiledGatewayRule & { index: number; cls: number })[] = [];
  // wirefilter compares bytes: group values are matched exactly.
  const groups = new GroupIndex(false);
  const http = new HttpRequestState();
  rules.forEach((rule, index) => {
    const where = `rules[${index}]`;
    if (!isObject(rule)) throw invalid(where, 'a rule must be an object');
    const r = rule;
    const name = r['name'];
    if (typeof name !== 'string' || name === '') throw invalid(where, '`name` must be a non-empty string');
    const at = `${where} \`${name}\``;
    const action = r['action'];
    if (typeof action !== 'string' || !ACTIONS.has(action)) throw invalid(at, `\`action\` \`${String(action)}\` is not a gateway action`);
    const precedence = r['precedence'];
    if (typeof precedence !== 'number' || !Number.isFinite(precedence)) throw invalid(at, '`precedence` must be a finite number');
    const id = r['id'];
    if (id !== undefined && typeof id !== 'string') throw invalid(at, '`id` must be a string');
    const enabled = r['enabled'];
    if (enabled !== undefined && typeof enabled !== 'boolean') throw invalid(at, '`enabled` must be a boolean');
    const filters = r['filters'];
    if (filters !== undefined && (!Array.isArray(filters) || !filters.every((f) => typeof f === 'string' && FILTERS.has(f)))) {
      throw invalid(at, '`filters` must be an array of http, dns, l4, egress, dns_resolver');
    }
    const extended = opts.matchExtendedEmail || EXTENDED_EMAIL_ACTIONS.has(action as GatewayAction);
    const emailMode: EmailMode = !extended ? 'exact' : PASS_ACTIONS.has(action as GatewayAction) ? 'canonical' : 'widen';
    const parts: { part: string; fn: ExpressionFn }[] = [];
    let identityRead = false;
    let groupBits = 0;
    let httpRead = false;
    const groupFieldsRead = new Set<string>();
    for (const part of PARTS) {
      const source = r[part];
      if (source === undefined || source === null || source === '') continue;
      if (typeof source !== 'string') throw invalid(`${at}.${part}`, `\`${part}\` must be a string`);
      const partWhere = `${at}.${part}`;
      const ast = parseExpression(source, partWhere, limits);
      eachField(ast, (field) => {
        if (field.startsWith('identity.')) identityRead = true;
        if (field.startsWith(GROUP_PREFIX)) {
          groupBits |= fieldBit(field.slice(GROUP_PREFIX.length) as GroupField);
          groupFieldsRead.add(field);
        }
        if (isHttpField(field)) httpRead = true;
      });
      parts.push({ part, fn: compilePart(ast, { source, where: partWhere, part, lists, emailMode, groups, http }) });
    }
    // Compile every rule (a broken disabled rule is still a configuration error), keep the enabled ones.
    if (enabled === false) return;
    if (opts.filter !== undefined && Array.isArray(filters) && !(filters as GatewayFilter[]).includes(opts.filter)) return;
    for (const field of groupFieldsRead) {
      if ((fieldBit(field.slice(GROUP_PREFIX.length) as GroupField) & suppliedBits) !== 0) continue;
      warnings.push(
        `rule \`${name}\` (${where}) reads \`${field}\`, which no configured group source supplies (they supply ${describeFields(opts.groupFields)}): ` +
          'the comparison is unknown for every identity, so a Block that reads it denies and an Allow never matches',
      );
    }
    const ref: DecisionPolicyRef = id === undefined ? { name, precedence } : { id, name, precedence };
    const cls = opts.filter === 'http' ? httpClass(action as GatewayAction) : 0;
    kept.push({ ref, action: action as GatewayAction, parts, readsIdentity: identityRead, groupBits, readsHttp: httpRead, index, cls });
  });
  kept.sort((a, b) => a.cls - b.cls || a.ref.precedence - b.ref.precedence || a.index - b.index);
  return new GatewayEvaluator(kept, opts.defaultAction, groups.seal(), http, warnings);
}
