/**
 * The types an expression compiles to and against (the closure, the scope a
 * rule's part compiles in, the extended-email modes), and the trace entry a
 * comparison reports. Split from `expression-compile.ts`, which re-exports them.
 */
import type { RequestContext } from '../types.js';
import type { Expr } from './expression-parser.js';
import type { GroupIndex } from './group-index.js';
import type { HttpRequestState } from './http-request.js';
import type { IdentityView } from './identity-view.js';
import type { ListMap } from './options.js';
import { traceResult, type Tri } from './tri.js';
import type { CheckTrace } from './types.js';

/** Evaluates an expression; with `sink`, every comparison reports itself there. */
export type ExpressionFn = (view: IdentityView, context: RequestContext, sink?: CheckTrace[]) => Tri;

/**
 * How `identity.email` `==`, `!=` and `in` read extended addresses (reference §2.5) in a rule:
 * - `exact`: byte for byte (Allow-type actions, and restricting ones without variant matching);
 * - `canonical`: every comparison on canonical addresses (Allow-type actions with `matchExtendedEmail`:
 *   an exclusion such as `!=` then excludes the variants too);
 * - `widen`: a restricting action that matches variants (Block, Isolate, …): each comparison is read
 *   the way that makes the rule match more, so a variant never escapes it. A comparison that makes the
 *   rule more likely to match when true (`==`, `in` outside `not`) reads canonical addresses; one that
 *   narrows it (`!=`, or under `not`) reads the exact address, so "block everyone except alice"
 *   exempts `alice@x` and neither `a.lice@x` nor `alice+1@x`. One under `xor` (both ways) is tried
 *   both ways, and the rule matches if some reading makes it match.
 */
export type EmailMode = 'exact' | 'canonical' | 'widen';

export interface ExpressionScope {
  readonly source: string;
  readonly where: string;
  /** The expression part, used as the trace path (`identity`, `traffic`, `device_posture`). */
  readonly part: string;
  readonly lists: ListMap;
  readonly emailMode: EmailMode;
  /** The compiled set's group probes (exact bytes). */
  readonly groups: GroupIndex;
  /**
   * The compiled set's HTTP fields of the request being decided. INVARIANT: the
   * set loads it from the context before it runs any expression (evaluation and trace).
   */
  readonly http: HttpRequestState;
  /**
   * The readings of the part's `identity.email` comparisons under `xor` in `widen` mode: bit *i* set
   * means comparison *i* reads canonical addresses. Set by {@link compilePart}'s search.
   */
  readonly readings: { mask: number; count: number };
}

/** Reports one comparison to the trace `sink`. */
export function report(sink: CheckTrace[], scope: ExpressionScope, expr: Expr, attribute: string, result: Tri, detail?: string): void {
  const check: CheckTrace = {
    path: scope.part,
    selector: scope.source.slice(expr.start, expr.end),
    value: '',
    attribute,
    result: traceResult(result),
  };
  sink.push(detail === undefined ? check : { ...check, detail });
}
