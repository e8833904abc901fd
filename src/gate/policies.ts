/**
 * The gate's policies, compiled once at construction: each Access application's policies, the Gateway
 * rules, and their report-only candidates (shadow evaluators that publish their differences).
 */
import { ConfigError } from '../errors/index.js';
import type { GroupSource } from '../groups/types.js';
import type { GroupField } from '../types.js';
import { compileAccessPolicies, type CompiledAccessPolicies } from '../policy/access-compile.js';
import { compileGatewayRules, type CompiledGatewayRules } from '../policy/gateway-compile.js';
import { createShadowEvaluator, type DecisionDifference } from '../policy/shadow.js';
import type { AccessDecision, GatewayDecision } from '../policy/types.js';
import { channels, publish } from '../diagnostics.js';
import type { ParsedGateOptions, ParsedGatewayOptions } from './options.js';
import type { GateApplication } from './types.js';

/** An application as the gate holds it: its settings and the evaluator that decides for it. */
export interface CompiledApplication {
  readonly app: GateApplication;
  readonly evaluator: { evaluate: CompiledAccessPolicies['evaluate'] };
}

/** Everything the gate decides with. */
export interface GatePolicies {
  readonly applications: ReadonlyMap<string, CompiledApplication>;
  readonly gateway: { evaluate: CompiledGatewayRules['evaluate'] } | undefined;
  /** Problems found at compile time that change no decision (published on `entragate:gate:warning` too). */
  readonly warnings: string[];
  /** The only application, when exactly one is configured. */
  readonly defaultApplication: string | undefined;
}

/** Compiles the applications' policies and the Gateway rules of validated gate options. */
export function compileGatePolicies(o: ParsedGateOptions, source: GroupSource | undefined): GatePolicies {
  const idp = o.idp;
  const onDifference = o.reportOnly?.onDifference;
  function reportDifference(difference: DecisionDifference, where: string): void {
    publish(channels.decisionDifference, { where, ...difference });
    onDifference?.(difference, where);
  }
  // `auth_context` rules need Conditional Access sync on the IdP, as in Cloudflare.
  const compileOptions = { groups: o.ruleGroups, lists: o.lists, authContexts: idp.config.conditional_access_enabled };
  const applications = new Map<string, CompiledApplication>();
  for (const [name, app] of Object.entries(o.applications)) {
    const compiled = withLocation(`applications.${name}`, () => compileAccessPolicies(app.policies, compileOptions));
    const candidate = o.reportOnly?.applications[name];
    const evaluator = candidate
      ? createShadowEvaluator<AccessDecision>(
          compiled,
          withLocation(`reportOnly.applications.${name}`, () => compileAccessPolicies(candidate.policies, compileOptions)),
          {
            onDifference: (difference) => reportDifference(difference, `applications.${name}`),
          },
        )
      : compiled;
    applications.set(name, { app: { name, aud: app.aud ?? name, session_duration: app.session_duration }, evaluator });
  }
  for (const name of Object.keys(o.reportOnly?.applications ?? {})) {
    if (!applications.has(name))
      throw new ConfigError('ERR_CONFIG_INVALID', `invalid gate configuration: \`reportOnly.applications.${name}\` has no enforced application of that name`);
  }
  // The group fields every possible answer supplies: a complete token claim (ids only) may answer under
  // `tokenGroups: 'prefer'` or without sources; otherwise the sources' declared fields (all when undeclared).
  const suppliedFields: readonly GroupField[] = source !== undefined && o.tokenGroups === 'ignore' ? (source.fields ?? ['id', 'name', 'email']) : ['id'];
  const warnings: string[] = [];
  const gatewayOptions = (g: ParsedGatewayOptions) => ({
    lists: o.lists,
    groupFields: suppliedFields,
    ...(g.defaultAction ? { defaultAction: g.defaultAction } : {}),
    ...(g.matchExtendedEmail !== undefined ? { matchExtendedEmail: g.matchExtendedEmail } : {}),
    ...(g.filter ? { filter: g.filter } : {}),
  });
  let gateway: { evaluate: CompiledGatewayRules['evaluate'] } | undefined;
  if (o.gateway) {
    const compiled = withLocation('gateway', () => compileGatewayRules(o.gateway!.rules, gatewayOptions(o.gateway!)));
    for (const warning of compiled.warnings) {
      const text =
        o.tokenGroups === 'prefer' && source !== undefined
          ? `gateway: ${warning} (with \`tokenGroups: 'prefer'\`, a token's complete \`groups\` claim answers, and it carries ids only)`
          : `gateway: ${warning}`;
      warnings.push(text);
      publish(channels.gateWarning, { where: 'gateway', warning: text });
    }
    const candidate = o.reportOnly?.gateway;
    gateway = candidate
      ? createShadowEvaluator<GatewayDecision>(
          compiled,
          withLocation('reportOnly.gateway', () => compileGatewayRules(candidate.rules, gatewayOptions(candidate))),
          {
            onDifference: (difference) => reportDifference(difference, 'gateway'),
          },
        )
      : compiled;
  }
  const defaultApplication = applications.size === 1 ? [...applications.keys()][0] : undefined;
  return { applications, gateway, warnings, defaultApplication };
}

/** Prefixes a compile error with where in the gate options it happened. */
function withLocation<T>(where: string, compile: () => T): T {
  try {
    return compile();
  } catch (error) {
    if (error instanceof Error && 'code' in error) error.message = `${where}: ${error.message}`;
    throw error;
  }
}
