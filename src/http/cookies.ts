/** Attributes of a `Set-Cookie` the login writes. */
export interface CookieAttributes {
  path: string;
  domain?: string | undefined;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'Lax' | 'Strict' | 'None';
  /** Seconds; `0` deletes the cookie. Omitted: a browser-session cookie. */
  maxAge?: number;
}

/** Reads one cookie from a `Cookie` header (the first of that name), or undefined. */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end === -1) end = header.length;
    let start = at;
    while (start < end && header.charCodeAt(start) === 32) start++;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    at = end + 1;
  }
  return undefined;
}

/** Every cookie of a `Cookie` header whose name starts with `prefix`, in header order (names repeated as sent). */
export function cookiesWithPrefix(header: string | null | undefined, prefix: string): Array<[name: string, value: string]> {
  const out: Array<[string, string]> = [];
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith(prefix)) out.push([name, part.slice(eq + 1).trim()]);
  }
  return out;
}

/** Builds a `Set-Cookie` value. Names and values are ours (base64url, JWS), never user input. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let out = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain) out += `; Domain=${attributes.domain}`;
  if (attributes.maxAge !== undefined) {
    out += `; Max-Age=${attributes.maxAge}`;
    if (attributes.maxAge === 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  }
  if (attributes.httpOnly) out += '; HttpOnly';
  if (attributes.secure) out += '; Secure';
  out += `; SameSite=${attributes.sameSite}`;
  return out;
}
