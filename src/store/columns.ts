/*
 * Values the store derives from SCIM attributes into its own columns. Pure: the writes and the
 * migrations that recompute the columns for existing rows share them, so the two cannot drift.
 */
import type { JsonValue } from './types.js';

/**
 * A group's mail from its SCIM `emails` (multi-valued as a user's: Entra sends it only with
 * a custom mapping of the group's `mail`, e.g. to `emails[type eq "work"].value`): the
 * primary value, else the `work` one, else the first.
 */
export function groupEmail(emails: JsonValue | undefined): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  let work: string | undefined;
  let first: string | undefined;
  for (const e of emails) {
    if (e === null || typeof e !== 'object' || Array.isArray(e) || typeof e.value !== 'string' || e.value.trim() === '') continue;
    if (e.primary === true) return e.value;
    if (work === undefined && typeof e.type === 'string' && e.type.toLowerCase() === 'work') work = e.value;
    first ??= e.value;
  }
  return work ?? first;
}

/**
 * The key `userName` is unique under and looked up by (`user_name_lc`): NFKC, lower-cased, NFKC
 * again, so `ａdmin` (fullwidth) is `admin`, and `café` composed (NFC) or decomposed (NFD) is one
 * name. As RFC 8265's UsernameCaseMapped profile (§3.3: width mapping, `toLowerCase`,
 * normalisation), with NFKC in place of its width mapping and NFC: it also folds the other
 * compatibility characters (ligatures, superscripts, the long s). The last NFKC makes the key a
 * fixed point: `userNameKey(userNameKey(x)) === userNameKey(x)`.
 *
 * Not full Unicode case folding: `ß` stays `ß` (`toLowerCase` keeps it), so `strasse` and
 * `straße` are two names.
 *
 * Every look-up of a user by `userName` must use it: SCIM's `userName eq` (answered from this
 * column) and the directory index's `findUser`.
 */
export function userNameKey(userName: string): string {
  return userName.normalize('NFKC').toLowerCase().normalize('NFKC');
}

