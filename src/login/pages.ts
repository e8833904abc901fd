/**
 * The login's HTML pages: a failed sign-in (or sign-out), and the sign-out confirmation.
 * Nothing in them comes from the request unescaped.
 */
import { publish } from '../diagnostics.js';
import { EntragateError, SessionError } from '../errors/index.js';
import { loginChannels } from './diagnostics.js';
import type { RequestLike } from '../http/request.js';

/** Renders a failed login: the error status, a short HTML page and the code in `x-entragate-error`. Never sets a session. */
export function failure(error: unknown, setCookies: readonly string[], title = 'Sign-in failed'): Response {
  const e =
    error instanceof EntragateError ? error : new SessionError('ERR_LOGIN_EXCHANGE_FAILED', 'the login could not be completed', { cause: error, status: 500 });
  // The message goes to the operator (messages never hold a token or a secret), even when the page hides it.
  publish(loginChannels.login, { event: 'failure', code: e.code, message: e.message });
  const headers = new Headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-entragate-error': e.code });
  for (const c of setCookies) headers.append('set-cookie', c);
  // 5xx messages stay on the server (the diagnostics channel has them): they may describe the infrastructure.
  const text = e.expose ? e.message : 'the identity provider or the directory is unavailable: try again in a moment';
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${escapeHtml(text)}</p><p><code>${e.code}</code></p></body></html>`;
  return new Response(body, { status: e.status, headers });
}

/** The sign-out confirmation: a POST form to the same path, so only a same-origin click ends the session. */
export function confirmLogout(request: RequestLike): Response {
  const path = new URL(request.url ?? '/', 'http://entragate.invalid').pathname;
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>Sign out</title></head><body><form method="post" action="${escapeHtml(path)}"><button type="submit">Sign out</button></form></body></html>`;
  return new Response(body, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
