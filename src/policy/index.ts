/**
 * The policy engine: Cloudflare Access policies and Gateway identity
 * expressions, compiled once and evaluated purely and synchronously, with
 * decisions that explain themselves.
 *
 * @packageDocumentation
 */
export { compileAccessPolicies, type CompiledAccessPolicies } from './access-compile.js';
export { compileGatewayRules, type CompiledGatewayRules } from './gateway-compile.js';
export { explain } from './decision.js';
export {
  compareDecisions,
  createShadowEvaluator,
  type DecisionDifference,
  type DecisionSummary,
  type DecisionEvaluator,
  type ShadowOptions,
  type ShadowStats,
  type ShadowEvaluator,
} from './shadow.js';
export { parseExpression, type Expr, type CompareOp, type Rhs, type ParseLimits } from './expression-parser.js';
export {
  claimCheck,
  claimEquals,
  claimIncludes,
  requiredRoles,
  requiredScopes,
  scopeIncludesAny,
  stepUpClaims,
  type AccessTokenClaims,
  type ClaimCheck,
  type ClaimCheckCode,
  type ClaimCheckFailure,
  type ClaimValue,
} from './claim-checks.js';
export { canonicalEmail } from './extended-email.js';
export type { AccessCompileOptions, GatewayCompileOptions } from './options.js';
export type * from './types.js';
