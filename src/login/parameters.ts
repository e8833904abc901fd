/**
 * The per-request parameters of a login start (`login_hint`, `domain_hint`, `prompt`, `claims`), from
 * `login.start`'s options or the start route's query, checked before anything reaches Entra.
 */
import { SessionError } from '../errors/index.js';
import { queryOf, type RequestLike } from '../http/request.js';

/** The `prompt` values of OpenID Connect Core §3.1.2.1 (Entra honours one at a time). */
export type LoginPrompt = 'none' | 'login' | 'consent' | 'select_account';

/**
 * An OpenID Connect claims request (OpenID Connect Core §5.5): a JSON object whose members
 * (`id_token`, `userinfo`, and Entra's `access_token`) ask for claims, e.g. a Conditional Access
 * authentication context step-up: `{ id_token: { acrs: { essential: true, values: ['c1'] } } }`.
 */
export interface ClaimsRequest {
  /** Claims asked for in the ID token, by claim name (`{ acrs: { essential: true, values: ['c1'] } }`). */
  readonly id_token?: Readonly<Record<string, unknown>>;
  /** Claims asked for from the UserInfo endpoint, by claim name; the login itself never calls UserInfo. */
  readonly userinfo?: Readonly<Record<string, unknown>>;
  /** Entra's extension: claims asked for in the access token, by claim name (`acrs` for a step-up, `xms_cc` for client capabilities). */
  readonly access_token?: Readonly<Record<string, unknown>>;
}

/**
 * Per-request options of `login.start`. Each one, when not given, is read from the start route's
 * query parameter of the same meaning (`returnTo`, `login_hint`, `domain_hint`, `prompt`,
 * `claims`); an empty query value counts as absent except for `claims`. A value that is not valid
 * (or a query parameter given twice) answers a 400 failure page with `ERR_LOGIN_PARAMETER_INVALID` or
 * `ERR_LOGIN_CLAIMS_INVALID`: nothing is passed through unchecked.
 */
export interface LoginStartOptions {
  /**
   * The relative path to return to after the login; anything but a same-origin relative path becomes `/`.
   * @defaultValue the `returnTo` query parameter, else `/`
   */
  returnTo?: string;
  /**
   * Entra's `login_hint`: the user's sign-in name (UPN or email), pre-filled on the sign-in page
   * (msal-node's `loginHint`). At most 320 characters, no control characters.
   * @defaultValue the `login_hint` query parameter, else none
   */
  loginHint?: string;
  /**
   * Entra's `domain_hint`: a federated domain (`contoso.com`) whose IdP the user is sent to directly,
   * or `consumers` / `organizations`. A host-name-like value of at most 253 characters.
   * @defaultValue the `domain_hint` query parameter, else none
   */
  domainHint?: string;
  /**
   * The OpenID Connect `prompt`: `none`, `login`, `consent` or `select_account`; overrides the IdP's
   * `config.prompt` for this login.
   * @defaultValue the `prompt` query parameter, else the IdP's `config.prompt`, else none
   */
  prompt?: LoginPrompt;
  /**
   * The OpenID Connect `claims` request parameter (§5.5), as an object or its JSON text: it must be a
   * JSON object of `id_token` / `userinfo` / `access_token` objects, at most 2048 bytes (UTF-8) once
   * serialised. Sent re-serialised, never as given. Entra enforces the Conditional Access policy of an
   * `acrs` essential claim (step-up) and the resulting ID token carries `acrs`.
   * @defaultValue the `claims` query parameter, else none
   */
  claims?: ClaimsRequest | string;
}

/** The checked parameters, ready for the authorization URL. */
export interface LoginParameters {
  returnTo: string | null | undefined;
  login_hint?: string;
  domain_hint?: string;
  prompt?: LoginPrompt;
  claims?: string;
}

/** The largest claims request accepted, in UTF-8 bytes of its JSON. */
export const MAX_CLAIMS_BYTES = 2048;
const PROMPTS: ReadonlySet<string> = new Set<LoginPrompt>(['none', 'login', 'consent', 'select_account']);
const CLAIMS_MEMBERS: ReadonlySet<string> = new Set(['id_token', 'userinfo', 'access_token']);
const DOMAIN_HINT = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * The login parameters of a start: each option, else its query parameter. Throws a `SessionError`
 * (`ERR_LOGIN_PARAMETER_INVALID`, `ERR_LOGIN_CLAIMS_INVALID`; 400) for a value it refuses.
 */
export function loginParameters(request: RequestLike, options: LoginStartOptions): LoginParameters {
  const query = queryOf(request);
  const pick = (option: unknown, name: string): unknown => {
    if (option !== undefined) return option;
    const values = query.getAll(name);
    if (values.length > 1) throw invalid(`the login parameter \`${name}\` is given ${values.length} times`);
    return values[0];
  };
  const out: LoginParameters = { returnTo: options.returnTo ?? query.get('returnTo') };
  const loginHint = pick(options.loginHint, 'login_hint');
  if (loginHint !== undefined && loginHint !== '') {
    if (typeof loginHint !== 'string' || loginHint.length > 320 || CONTROL.test(loginHint))
      throw invalid('the `login_hint` must be a sign-in name of at most 320 characters');
    out.login_hint = loginHint;
  }
  const domainHint = pick(options.domainHint, 'domain_hint');
  if (domainHint !== undefined && domainHint !== '') {
    if (typeof domainHint !== 'string' || !DOMAIN_HINT.test(domainHint)) throw invalid('the `domain_hint` must be a domain name such as `contoso.com`');
    out.domain_hint = domainHint;
  }
  const prompt = pick(options.prompt, 'prompt');
  if (prompt !== undefined && prompt !== '') {
    if (typeof prompt !== 'string' || !PROMPTS.has(prompt)) {
      throw invalid(`the \`prompt\` \`${typeof prompt === 'string' ? printable(prompt) : typeof prompt}\` is not one of none, login, consent, select_account`);
    }
    out.prompt = prompt as LoginPrompt;
  }
  const claims = pick(options.claims, 'claims');
  if (claims !== undefined) out.claims = claimsParameter(claims);
  return out;
}

/**
 * The JSON text of a claims request (OpenID Connect Core §5.5): parsed (when text) and serialised
 * again, so only a JSON object of request objects within {@link MAX_CLAIMS_BYTES} reaches Entra.
 */
export function claimsParameter(value: unknown): string {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    // Checked before parsing too: a huge parameter is refused without building it.
    if (Buffer.byteLength(value, 'utf8') > MAX_CLAIMS_BYTES) throw claimsInvalid(`the \`claims\` parameter is over ${MAX_CLAIMS_BYTES} bytes`);
    try {
      parsed = JSON.parse(value);
    } catch {
      throw claimsInvalid('the `claims` parameter is not JSON');
    }
  }
  if (!isPlainObject(parsed)) throw claimsInvalid('the `claims` parameter must be a JSON object');
  for (const [member, request] of Object.entries(parsed)) {
    if (!CLAIMS_MEMBERS.has(member)) throw claimsInvalid(`the \`claims\` member \`${printable(member)}\` is not one of id_token, userinfo, access_token`);
    if (!isPlainObject(request)) throw claimsInvalid(`the \`claims\` member \`${member}\` must be an object`);
  }
  let text: string;
  try {
    text = JSON.stringify(parsed);
  } catch {
    throw claimsInvalid('the `claims` parameter cannot be serialised as JSON');
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_CLAIMS_BYTES) throw claimsInvalid(`the \`claims\` parameter is over ${MAX_CLAIMS_BYTES} bytes`);
  return text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 32 ? `${clean.slice(0, 32)}…` : clean;
}

function invalid(message: string): SessionError {
  return new SessionError('ERR_LOGIN_PARAMETER_INVALID', message);
}

function claimsInvalid(message: string): SessionError {
  return new SessionError('ERR_LOGIN_CLAIMS_INVALID', message);
}
