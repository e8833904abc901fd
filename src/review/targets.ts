/** The review's targets: the applications and the Gateway asked for, each with its decision contexts and candidate gate. */
import { ConfigError } from '../errors/index.js';
import { createGate, type AuthorizeContext, type Gate, type GateOptions } from '../gate.js';
import type { PolicyRef } from './decision.js';
import type { ReviewCandidate, ReviewOptions } from './types.js';

/** One application (or the Gateway) of a review. */
export interface Target {
  name: string;
  context: AuthorizeContext;
  candidate: Gate | undefined;
  candidateContext: AuthorizeContext;
  /** Filled by the contexts' `onUndecided` during one decision (the review decides one at a time). */
  undecided: PolicyRef[];
}

/** The targets of the options, in the order asked; a bad candidate or an unknown application throws here. */
export function buildTargets(options: ReviewOptions): Target[] {
  const names = options.application === undefined ? [] : typeof options.application === 'string' ? [options.application] : [...options.application];
  if (names.length === 0 && options.gateway !== true)
    throw new ConfigError('ERR_CONFIG_INVALID', 'invalid review: give `application` (one or several) or `gateway: true`');
  for (const name of names) {
    if (options.gate.application(name) === undefined) throw new ConfigError('ERR_CONFIG_INVALID', `invalid review: the gate has no application \`${name}\``);
  }
  const candidate = options.candidate;
  let candidateGate: Gate | undefined;
  let candidateApps: ReadonlySet<string> = new Set();
  let candidateGateway = false;
  if (candidate !== undefined && isGate(candidate)) {
    candidateGate = candidate;
    candidateApps = new Set(names.filter((n) => candidate.application(n) !== undefined));
    candidateGateway = options.gateway === true;
  } else if (candidate !== undefined) {
    const apps = candidate.applications ?? {};
    // The candidate is compiled the way the gate compiles its own options (same IdP: `login_method`,
    // `auth_context` and conditional access read as in the enforced set); a bad candidate throws here.
    candidateGate = createGate({
      idp: options.gate.idp as GateOptions['idp'],
      applications: apps,
      ...(candidate.gateway === undefined ? {} : { gateway: candidate.gateway }),
      ruleGroups: candidate.ruleGroups ?? [],
      lists: candidate.lists ?? {},
      now: options.gate.now,
    });
    candidateApps = new Set(names.filter((n) => Object.hasOwn(apps, n)));
    candidateGateway = candidate.gateway !== undefined;
  }
  const target = (name: string, where: AuthorizeContext, candidateGateFor: Gate | undefined): Target => {
    const undecided: PolicyRef[] = [];
    const context: AuthorizeContext = { ...where, unknownRequestAttributes: true, onUndecided: (ref) => undecided.push(ref) };
    return { name, context, candidate: candidateGateFor, candidateContext: context, undecided };
  };
  // An application the candidate omits is unchanged: the enforced set answers for it.
  const targets: Target[] = names.map((name) =>
    target(name, { application: name }, candidateGate === undefined ? undefined : candidateApps.has(name) ? candidateGate : options.gate),
  );
  if (options.gateway === true)
    targets.push(target('gateway', { gateway: true }, candidateGate === undefined ? undefined : candidateGateway ? candidateGate : options.gate));
  return targets;
}

function isGate(value: ReviewCandidate | Gate): value is Gate {
  return typeof (value as Gate).authorize === 'function' && typeof (value as Gate).resolveIdentity === 'function';
}
