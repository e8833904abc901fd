import { z } from 'zod';
import { parseWith } from '../config/idp.js';
import type { ErrorCode } from '../errors/index.js';
import type { GroupField, Identity } from '../types.js';
import { describeMembership, failureOf, isGroupResolution, unknownResolution } from './resolution.js';
import type { GroupResolution, GroupSource, GroupSourceContext, UserStanding } from './types.js';

const groupSourceSchema = z.custom<GroupSource>(
  (value) =>
    typeof value === 'object' && value !== null && typeof (value as GroupSource).name === 'string' && typeof (value as GroupSource).resolve === 'function',
  { message: 'expected a group source ({ name, resolve })' },
);

const chainSchema = z.array(groupSourceSchema).min(1, { message: 'a chain needs at least one source' });

/**
 * Tries group sources in order; the first that answers `complete` wins.
 *
 * A source answering `absent`, `overage` or `unknown`, or throwing, hands over
 * to the next. When none completes, the answer is `unknown` with every reason
 * joined (`token: groups overage (…); graph: …`) and the code of the last
 * source that failed (else `ERR_GROUPS_UNAVAILABLE`).
 *
 * INVARIANT: a chain never answers "no groups" because its sources failed;
 * it answers `unknown`, and group selectors fail closed on it.
 *
 * Its `fields` are those every member supplies (a complete answer may come from
 * any of them). Its `standing` asks every member that keeps a directory: one that
 * refuses the user refuses them, one that cannot say makes the standing unknown.
 *
 * @example
 * ```ts
 * import { createDirectoryGroupSource, createGroupSourceChain, createTokenGroupSource } from 'entragate';
 *
 * const groups = createGroupSourceChain([createTokenGroupSource(), createDirectoryGroupSource({ index })]);
 * const { membership } = await groups.resolve(identity, { claims });
 * ```
 */
export function createGroupSourceChain(sources: readonly GroupSource[]): GroupSource {
  const chain = [...parseWith(chainSchema, sources, 'group source chain')];
  const judges = chain.filter((s) => typeof s.standing === 'function');
  const declared = chain.every((s) => s.fields !== undefined);
  const fields = declared ? (['id', 'name', 'email'] as const).filter((f) => chain.every((s) => s.fields!.includes(f))) : undefined;
  const source: GroupSource = {
    name: chain.map((s) => s.name).join('>'),
    ...(fields === undefined ? {} : { fields: Object.freeze(fields) as readonly GroupField[] }),
    async resolve(identity: Identity, context: GroupSourceContext): Promise<GroupResolution> {
      const reasons: string[] = [];
      let code: ErrorCode | undefined;
      for (const source of chain) {
        if (context.signal?.aborted) {
          reasons.push('aborted');
          break;
        }
        let resolution: unknown;
        try {
          resolution = await source.resolve(identity, context);
        } catch (err) {
          const failure = failureOf(err);
          reasons.push(`${source.name}: ${failure.reason}`);
          code = failure.code;
          continue;
        }
        if (!isGroupResolution(resolution)) {
          reasons.push(`${source.name}: returned no group resolution`);
          code = 'ERR_GROUPS_UNAVAILABLE';
          continue;
        }
        if (resolution.membership.state === 'complete') return resolution;
        reasons.push(`${source.name}: ${describeMembership(resolution.membership)}`);
        if (resolution.membership.state === 'unknown') code = resolution.membership.code as ErrorCode;
      }
      return unknownResolution(code ?? 'ERR_GROUPS_UNAVAILABLE', reasons.join('; '));
    },
  };
  if (judges.length > 0) {
    source.standing = (identity: Identity, context: GroupSourceContext): UserStanding => {
      let result: UserStanding = { state: 'unheld' };
      for (const judge of judges) {
        const standing = judge.standing!(identity, context);
        // INVARIANT: a refusal wins over everything, an unknown over any admission.
        if (standing.state === 'refused') return standing;
        if (standing.state === 'unknown') result = standing;
        else if (standing.state === 'active' && result.state === 'unheld') result = standing;
      }
      return result;
    };
  }
  return source;
}
