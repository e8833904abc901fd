/**
 * Whether a URL may be fetched for keys, metadata or Graph: `https:`, or `http:` to a
 * loopback host (tests, the mock). Credentials in the URL are refused; a query and a
 * fragment only when `allowQuery` (a discovery document's `jwks_uri` may carry `?appid=`).
 */
export function isSecureHost(value: string, options: { allowQuery?: boolean } = {}): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (!options.allowQuery && (url.search || url.hash)) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]');
}
