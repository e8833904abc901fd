/**
 * Entra's authority rules the login needs: which issuer a discovery document may name for the
 * authority tenant it was fetched from, on every cloud.
 */
import { isGuid } from '../config/idp.js';

/** The tenant of Microsoft personal accounts: the one issuer of the `consumers` authority. */
const MSA_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/**
 * Authority hosts whose issuer is on another host. Azure China (21Vianet) serves
 * `login.chinacloudapi.cn` and issues as `login.partner.microsoftonline.cn` (MSAL's
 * `AuthorityMetadata`: "Issuer differs").
 */
const ISSUER_HOSTS = new Map([['https://login.chinacloudapi.cn', 'https://login.partner.microsoftonline.cn']]);

/**
 * Whether a discovery document's issuer belongs to the login authority: the authority's own v2
 * issuer for a tenant id, Entra's `{tenantid}` template for `organizations`/`common`, the MSA
 * tenant (or the template) for `consumers`, or some tenant's v2 issuer for a domain name
 * (`contoso.onmicrosoft.com`); on the authority's host or the issuer host of its cloud.
 *
 * @example
 * ```ts
 * issuerFitsAuthority('https://login.microsoftonline.com/{tenantid}/v2.0', 'https://login.microsoftonline.com', 'organizations'); // true
 * ```
 */
export function issuerFitsAuthority(issuer: string, authorityHost: string, tenant: string): boolean {
  if (!issuer.endsWith('/v2.0')) return false;
  const alias = ISSUER_HOSTS.get(authorityHost);
  const host = issuer.startsWith(`${authorityHost}/`) ? authorityHost : alias !== undefined && issuer.startsWith(`${alias}/`) ? alias : undefined;
  if (host === undefined) return false;
  const named = issuer.slice(host.length + 1, -'/v2.0'.length);
  if (isGuid(tenant)) return named.toLowerCase() === tenant.toLowerCase();
  if (tenant === 'organizations' || tenant === 'common') return named === '{tenantid}';
  if (tenant === 'consumers') return named === '{tenantid}' || named.toLowerCase() === MSA_TENANT;
  return isGuid(named);
}
