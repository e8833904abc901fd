/**
 * The key `userName` is unique under and looked up by: NFKC, lower-cased, NFKC again, so `ａdmin`
 * (fullwidth) is `admin`, and `café` composed (NFC) or decomposed (NFD) is one name. As RFC 8265's
 * UsernameCaseMapped profile (§3.3: width mapping, `toLowerCase`, normalisation), with NFKC in place of
 * its width mapping and NFC: it also folds the other compatibility characters (ligatures, superscripts,
 * the long s). The last NFKC makes the key a fixed point: `userNameKey(userNameKey(x)) === userNameKey(x)`.
 *
 * Not full Unicode case folding: `ß` stays `ß` (`toLowerCase` keeps it), so `strasse` and `straße` are
 * two names.
 *
 * Every look-up of a user by `userName` uses it: the store's `user_name_lc` column (SCIM uniqueness and
 * `userName eq`) and the directory index's `findUser`.
 */
export function userNameKey(userName: string): string {
  // The common case, ASCII: NFKC changes nothing, only the case is folded.
  for (let i = 0; i < userName.length; i++) {
    if (userName.charCodeAt(i) > 0x7f) return userName.normalize('NFKC').toLowerCase().normalize('NFKC');
  }
  return userName.toLowerCase();
}
