import { ConfigError } from '../errors/index.js';
import { isSecureHost } from '../token/secure-host.js';

const TEAM_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const HOST = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

/**
 * The team domain as Cloudflare writes it in `iss`: an origin without a trailing slash
 * (`https://<team>.cloudflareaccess.com`). Accepts that URL, its host
 * (`<team>.cloudflareaccess.com`) or the bare team name (`<team>`); `http:` only for a loopback host
 * (`127.0.0.1`, `localhost`, `[::1]`: the mock), as for every other host entragate fetches keys from.
 * A path, query, fragment or credentials is refused: the certs and get-identity URLs are built from it.
 * Throws `ERR_CONFIG_INVALID` (at construction).
 */
export function normalizeTeamDomain(value: unknown, what: string): string {
  const invalid = (why: string): ConfigError => new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration: \`teamDomain\` ${why}`);
  if (typeof value !== 'string' || value.length === 0) throw invalid('must be the team domain, such as `https://<team>.cloudflareaccess.com`');
  const trimmed = value.trim().toLowerCase();
  let text: string;
  if (trimmed.includes('://')) text = trimmed;
  else if (TEAM_NAME.test(trimmed)) text = `https://${trimmed}.cloudflareaccess.com`;
  else if (HOST.test(trimmed) && trimmed.includes('.')) text = `https://${trimmed}`;
  else throw invalid('must be a URL, a host name or a team name');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('is not a URL');
  }
  if (!isSecureHost(text)) throw invalid('must be an https URL without credentials, query or fragment (http only for localhost, 127.0.0.1 or [::1])');
  if (url.pathname !== '/' || text.endsWith('#') || text.endsWith('?')) throw invalid('must be an origin, without a path');
  return url.origin;
}
