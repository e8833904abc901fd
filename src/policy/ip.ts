/**
 * A hand-written IPv4/IPv6 and CIDR parser (no `node:net`: this folder is pure).
 * Addresses are held as four 32-bit words; IPv4 and IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) share one form, so `10.0.0.0/8` matches `::ffff:10.1.2.3`.
 */

/** Four 32-bit words, most significant first; IPv4 is `[0, 0, 0xffff, v4]`. */
export type IpWords = readonly [number, number, number, number];

/** A parsed CIDR: the masked network and the prefix length over 128 bits. */
export interface Cidr {
  readonly words: IpWords;
  readonly prefix: number;
  /** The text form, for traces. */
  readonly text: string;
}

function parseV4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    // Leading zeros are refused: `010` is octal to some parsers and decimal to others.
    if (part.length === 0 || part.length > 3 || (part.length > 1 && part[0] === '0')) return null;
    let n = 0;
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return null;
      n = n * 10 + c;
    }
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value >>> 0;
}

function parseHextet(part: string): number | null {
  if (part.length === 0 || part.length > 4) return null;
  let n = 0;
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return null;
    n = n * 16 + d;
  }
  return n;
}

function parseV6(text: string): IpWords | null {
  if (text.length > 45) return null;
  const hextets: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const expand = (segment: string, allowV4Tail: boolean): number[] | null => {
    if (segment === '') return [];
    const pieces = segment.split(':');
    const out: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] as string;
      if (allowV4Tail && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseV4(piece);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        const h = parseHextet(piece);
        if (h === null) return null;
        out.push(h);
      }
    }
    return out;
  };
  if (halves.length === 2) {
    const head = expand(halves[0] as string, false);
    const tail = expand(halves[1] as string, true);
    if (!head || !tail || head.length + tail.length > 7) return null;
    hextets.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    const all = expand(text, true);
    if (!all || all.length !== 8) return null;
    hextets.push(...all);
  }
  const w = (i: number): number => (((hextets[i] as number) << 16) | (hextets[i + 1] as number)) >>> 0;
  return [w(0), w(2), w(4), w(6)];
}

/**
 * Parses an IPv4 or IPv6 address (no zone id, no leading zeros in IPv4).
 * Returns `null` for anything else.
 */
export function parseIp(text: string): IpWords | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45) return null;
  if (text.includes(':')) return parseV6(text);
  const v4 = parseV4(text);
  return v4 === null ? null : [0, 0, 0xffff, v4];
}

function isV4Mapped(words: IpWords): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

function maskWords(words: IpWords, prefix: number): IpWords {
  const out = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - i * 32));
    const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    out[i] = ((words[i] as number) & mask) >>> 0;
  }
  return out as unknown as IpWords;
}

/**
 * Parses `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128). Host bits
 * are masked off, as Cloudflare normalises them. Returns `null` when invalid.
 */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const words = parseIp(addressText);
  if (!words) return null;
  const v4 = !addressText.includes(':');
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  const full = v4 ? prefix + 96 : prefix;
  return { words: maskWords(words, full), prefix: full, text };
}

/**
 * Whether a CIDR's address has bits set beyond its prefix (`203.0.113.7/24`). wirefilter refuses such
 * a CIDR in an expression (the `cidr` crate's `InvalidHostPart`); the Access `ip` selector and lists
 * mask them. `false` for a bare address and for text that is not a CIDR.
 */
export function cidrHasHostBits(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash === -1) return false;
  const words = parseIp(text.slice(0, slash));
  const cidr = parseCidr(text);
  if (words === null || cidr === null) return false;
  for (let i = 0; i < 4; i++) if (words[i] !== cidr.words[i]) return true;
  return false;
}

/** An inclusive address range `a..b` (wirefilter's `ExplicitIpRange`), both ends in one family. */
export interface IpRange {
  readonly lo: IpWords;
  readonly hi: IpWords;
  /** The text form, for traces. */
  readonly text: string;
}

function compareWords(a: IpWords, b: IpWords): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number) ? -1 : 1;
  return 0;
}

/**
 * Parses `a..b` as wirefilter does (`rhs_types/ip.rs`): two addresses of the same family (both IPv4 or
 * both IPv6, as written) with `a <= b`. Returns `null` for anything else (a CIDR end, mixed families,
 * reversed bounds).
 */
export function parseIpRange(text: string): IpRange | null {
  if (typeof text !== 'string') return null;
  const dots = text.indexOf('..');
  if (dots === -1) return null;
  const first = text.slice(0, dots);
  const last = text.slice(dots + 2);
  if (first.includes(':') !== last.includes(':')) return null;
  const lo = parseIp(first);
  const hi = parseIp(last);
  if (lo === null || hi === null || compareWords(lo, hi) > 0) return null;
  return { lo, hi, text };
}

/** Whether the address lies inside the inclusive range. */
export function rangeContains(range: IpRange, ip: IpWords): boolean {
  return compareWords(range.lo, ip) <= 0 && compareWords(ip, range.hi) <= 0;
}

// The request IP is parsed once per distinct text: consecutive evaluations of
// many ip rules against the same request reuse it.
let lastIpText: string | undefined;
let lastIp: IpWords | null = null;

/** The request's `ip`, parsed (`null` when absent or not an address). */
export function requestIp(context: { readonly ip?: string | undefined }): IpWords | null {
  const text = context.ip;
  if (typeof text !== 'string') return null;
  if (text !== lastIpText) {
    lastIp = parseIp(text);
    lastIpText = text;
  }
  return lastIp;
}

/** Whether the address lies inside the CIDR. */
export function cidrContains(cidr: Cidr, ip: IpWords): boolean {
  let remaining = cidr.prefix;
  for (let i = 0; i < 4 && remaining > 0; i++) {
    const bits = remaining >= 32 ? 32 : remaining;
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((ip[i] as number) & mask) >>> 0 !== (cidr.words[i] as number)) return false;
    remaining -= bits;
  }
  return true;
}

/** Formats words back to text (IPv4 dotted when mapped), for traces and tests. */
export function formatIp(words: IpWords): string {
  if (isV4Mapped(words)) {
    const v = words[3];
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts: string[] = [];
  for (const w of words) parts.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  return parts.join(':');
}
