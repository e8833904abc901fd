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
 * An Entra External ID (CIAM) authority: `https://{subdomain}.ciamlogin.com`. Its issuer is on another
 * host, named by the tenant id: `https://{tenantId}.ciamlogin.com/{tenantId}/v2.0` (Microsoft's External
 * ID docs; https://github.com/oauth2-proxy/oauth2-proxy/issues/3476 and
 * https://github.com/AzureAD/microsoft-authentication-library-for-js/issues/8592 show the same shape).
 */
const CIAM_AUTHORITY = /^https:\/\/[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.ciamlogin\.com$/i;
const CIAM_ISSUER =
  /^https:\/\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.ciamlogin\.com\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/v2\.0$/i;

/**
 * Whether a CIAM issuer fits the authority tenant: both GUIDs of the issuer are one tenant, that
 * tenant when the authority names a tenant id, some tenant for a domain (`contoso.onmicrosoft.com`);
 * never a `{tenantid}` template (External ID has no multi-tenant endpoints).
 */
function ciamIssuerFits(issuer: string, tenant: string): boolean {
  const m = CIAM_ISSUER.exec(issuer);
  if (m === null || m[1]!.toLowerCase() !== m[2]!.toLowerCase()) return false;
  if (isGuid(tenant)) return m[1]!.toLowerCase() === tenant.toLowerCase();
  return tenant !== 'organizations' && tenant !== 'common' && tenant !== 'consumers';
}

/**
 * Whether a discovery document's issuer belongs to the login authority: the authority's own v2
 * issuer for a tenant id, Entra's `{tenantid}` template for `organizations`/`common`, the MSA
 * tenant (or the template) for `consumers`, or some tenant's v2 issuer for a domain name
 * (`contoso.onmicrosoft.com`); on the authority's host or the issuer host of its cloud. For an
 * External ID (CIAM) authority (`https://{subdomain}.ciamlogin.com`), the tenant's
 * `https://{tenantId}.ciamlogin.com/{tenantId}/v2.0`.
 *
 * @example
 * ```ts
 * issuerFitsAuthority('https://login.microsoftonline.com/{tenantid}/v2.0', 'https://login.microsoftonline.com', 'organizations'); // true
 * ```
 */
export function issuerFitsAuthority(issuer: string, authorityHost: string, tenant: string): boolean {
  if (!issuer.endsWith('/v2.0')) return false;
  if (CIAM_AUTHORITY.test(authorityHost)) return ciamIssuerFits(issuer, tenant);
  const alias = ISSUER_HOSTS.get(authorityHost);
  const host = issuer.startsWith(`${authorityHost}/`) ? authorityHost : alias !== undefined && issuer.startsWith(`${alias}/`) ? alias : undefined;
  if (host === undefined) return false;
  const named = issuer.slice(host.length + 1, -'/v2.0'.length);
  if (isGuid(tenant)) return named.toLowerCase() === tenant.toLowerCase();
  if (tenant === 'organizations' || tenant === 'common') return named === '{tenantid}';
  if (tenant === 'consumers') return named === '{tenantid}' || named.toLowerCase() === MSA_TENANT;
  return isGuid(named);
}
