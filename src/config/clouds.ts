/**
 * Microsoft national clouds: the login authority and Microsoft Graph host for
 * each value of Cloudflare's `azure_cloud` (`default` is the public cloud).
 */
export const AZURE_CLOUDS = {
  default: { authorityHost: 'https://login.microsoftonline.com', graphHost: 'https://graph.microsoft.com' },
  public: { authorityHost: 'https://login.microsoftonline.com', graphHost: 'https://graph.microsoft.com' },
  usgov: { authorityHost: 'https://login.microsoftonline.us', graphHost: 'https://graph.microsoft.us' },
  usgov_dod: { authorityHost: 'https://login.microsoftonline.us', graphHost: 'https://dod-graph.microsoft.us' },
  china: { authorityHost: 'https://login.chinacloudapi.cn', graphHost: 'https://microsoftgraph.chinacloudapi.cn' },
} as const;

/** A value accepted for `azure_cloud`. */
export type AzureCloud = keyof typeof AZURE_CLOUDS;

/** Hosts of one cloud. */
export interface CloudHosts {
  /** The login authority, without a trailing slash (`https://login.microsoftonline.com`). */
  authorityHost: string;
  /** The Microsoft Graph host, without a trailing slash (`https://graph.microsoft.com`). */
  graphHost: string;
}

/** The hosts for a cloud, with per-host overrides (tests, private clouds). */
export function cloudHosts(cloud: AzureCloud = 'default', overrides: Partial<CloudHosts> = {}): CloudHosts {
  const base = AZURE_CLOUDS[cloud];
  return {
    authorityHost: stripSlash(overrides.authorityHost ?? base.authorityHost),
    graphHost: stripSlash(overrides.graphHost ?? base.graphHost),
  };
}

function stripSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}
