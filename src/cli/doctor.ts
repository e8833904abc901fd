import { randomUUID } from 'node:crypto';
import { cloudHosts } from '../config/clouds.js';
import { idpConfigSchema } from '../config/idp.js';

/** One doctor check and what to do about it. */
export interface DoctorResult {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

/** Inputs of the doctor: the IdP JSON, host overrides (the mock in tests) and the SCIM endpoint. */
export interface DoctorOptions {
  idp: unknown;
  authorityHost?: string;
  graphHost?: string;
  scimUrl?: string;
  scimSecret?: string;
  /** A user object id to ask Graph about; a random id answers 404 when the permission is there. */
  graphUser?: string;
  timeoutMs: number;
  onCheck?: (result: DoctorResult) => void;
  fetch?: typeof fetch;
}

interface Fetched {
  status: number;
  body: Record<string, unknown> | undefined;
}

/**
 * The "Test" button of Cloudflare's IdP page, for a local configuration:
 * discovery and JWKS for the tenant, the client secret (a client-credentials
 * token for Graph), Graph permissions (a `transitiveMemberOf` call), and the SCIM
 * endpoint with and without its secret. Each check passes or says what to fix;
 * a check whose input is missing is skipped. Secrets are never printed.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorResult[]> {
  const results: DoctorResult[] = [];
  const record = (name: string, status: DoctorResult['status'], detail: string): void => {
    const result = { name, status, detail };
    results.push(result);
    options.onCheck?.(result);
  };
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const get = async (url: string, init: RequestInit = {}): Promise<Fetched> => {
    const response = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs) });
    const text = await response.text();
    let body: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  };
  const failure = (error: unknown): string => (error instanceof Error ? (error.name === 'TimeoutError' ? 'timed out' : error.message) : String(error));

  const parsed = idpConfigSchema.safeParse(options.idp);
  if (!parsed.success) {
    record(
      'identity provider config',
      'fail',
      `fix the IdP JSON (run \`entragate check\`): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
    return results;
  }
  const idp = parsed.data;
  record('identity provider config', 'pass', `tenant \`${idp.config.directory_id}\`, client \`${idp.config.client_id}\``);
  const hosts = cloudHosts(idp.config.azure_cloud, {
    ...(options.authorityHost ? { authorityHost: options.authorityHost.replace(/\/$/, '') } : {}),
    ...(options.graphHost ? { graphHost: options.graphHost.replace(/\/$/, '') } : {}),
  });
  const tenant = idp.config.directory_id;

  let jwksUri: string | undefined;
  let tokenEndpoint = `${hosts.authorityHost}/${tenant}/oauth2/v2.0/token`;
  try {
    const d = await get(`${hosts.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`);
    if (d.status === 200 && typeof d.body?.issuer === 'string' && typeof d.body.jwks_uri === 'string') {
      jwksUri = d.body.jwks_uri;
      if (typeof d.body.token_endpoint === 'string') tokenEndpoint = d.body.token_endpoint;
      record('discovery', 'pass', `issuer \`${d.body.issuer}\``);
    } else {
      const reason = typeof d.body?.error_description === 'string' ? d.body.error_description.split(/\r?\n/)[0] : `HTTP ${d.status}`;
      record('discovery', 'fail', `${reason}: check \`directory_id\` (the tenant id) and \`azure_cloud\``);
    }
  } catch (error) {
    record('discovery', 'fail', `${failure(error)}: the authority \`${hosts.authorityHost}\` is unreachable from here (proxy, firewall, DNS)`);
  }

  if (jwksUri === undefined) record('signing keys (JWKS)', 'skip', 'needs discovery');
  else {
    try {
      const k = await get(jwksUri);
      const keys = Array.isArray(k.body?.keys) ? (k.body.keys as Array<Record<string, unknown>>) : [];
      const rsa = keys.filter((key) => key.kty === 'RSA' && typeof key.kid === 'string');
      if (k.status === 200 && rsa.length > 0) record('signing keys (JWKS)', 'pass', `${rsa.length} RSA key${rsa.length === 1 ? '' : 's'}`);
      else record('signing keys (JWKS)', 'fail', `HTTP ${k.status}, ${rsa.length} RSA keys: the JWKS must list the tenant's RSA signing keys`);
    } catch (error) {
      record('signing keys (JWKS)', 'fail', `${failure(error)}: \`${jwksUri}\` is unreachable`);
    }
  }

  let graphToken: string | undefined;
  const secret = idp.config.client_secret;
  if (secret === undefined) record('client secret', 'skip', 'no `client_secret` in the IdP config (needed for the login and for Graph)');
  else {
    try {
      const form = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: idp.config.client_id,
        client_secret: secret,
        scope: `${hosts.graphHost}/.default`,
      });
      const t = await get(tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      if (t.status === 200 && typeof t.body?.access_token === 'string') {
        graphToken = t.body.access_token;
        record('client secret', 'pass', 'a client-credentials token was issued');
      } else {
        const description = typeof t.body?.error_description === 'string' ? t.body.error_description.split(/\r?\n/)[0]!.replace(/\.$/, '') : `HTTP ${t.status}`;
        const fix = /AADSTS7000215|AADSTS7000222/.test(description)
          ? 'the client secret is wrong or expired: create a new one under Certificates & secrets and copy its Value (not its ID)'
          : /AADSTS700016/.test(description)
            ? 'the client id is not registered in this tenant: check `client_id` and `directory_id`'
            : 'check `client_id`, `client_secret` and `directory_id`';
        record('client secret', 'fail', `${description}: ${fix}`);
      }
    } catch (error) {
      record('client secret', 'fail', `${failure(error)}: the token endpoint is unreachable`);
    }
  }

  if (graphToken === undefined) record('graph permissions', 'skip', 'needs a client-credentials token');
  else {
    const user = options.graphUser ?? randomUUID();
    try {
      const g = await get(`${hosts.graphHost}/v1.0/users/${encodeURIComponent(user)}/transitiveMemberOf/microsoft.graph.group?$select=id&$top=1&$count=true`, {
        headers: { authorization: `Bearer ${graphToken}`, consistencylevel: 'eventual' },
      });
      const code =
        typeof (g.body?.error as Record<string, unknown> | undefined)?.code === 'string' ? String((g.body!.error as Record<string, unknown>).code) : '';
      // A 404 for a random user proves the call was authorized; only a 401/403 means a missing permission.
      if (g.status === 200 || (g.status === 404 && code === 'Request_ResourceNotFound'))
        record('graph permissions', 'pass', 'transitiveMemberOf is allowed (GroupMember.Read.All or Directory.Read.All)');
      else if (g.status === 403 || g.status === 401) {
        record(
          'graph permissions',
          'fail',
          `${code || `HTTP ${g.status}`}: add the application permission GroupMember.Read.All (or Directory.Read.All) to the app registration and grant admin consent`,
        );
      } else record('graph permissions', 'fail', `${code || `HTTP ${g.status}`}: Microsoft Graph answered unexpectedly`);
    } catch (error) {
      record('graph permissions', 'fail', `${failure(error)}: Microsoft Graph \`${hosts.graphHost}\` is unreachable`);
    }
  }

  if (options.scimUrl === undefined) record('SCIM endpoint', 'skip', 'pass `--scim-url` (and `--scim-secret`) to check it');
  else {
    const base = options.scimUrl.replace(/\/$/, '');
    try {
      const anonymous = await get(`${base}/ServiceProviderConfig`);
      if (anonymous.status !== 401)
        record('SCIM endpoint', 'fail', `answered HTTP ${anonymous.status} without a secret: it must refuse unauthenticated requests with 401`);
      else if (options.scimSecret === undefined)
        record('SCIM endpoint', 'pass', 'reachable and refuses requests without a secret (pass `--scim-secret` to check the secret)');
      else {
        const withSecret = await get(`${base}/Users?count=1`, { headers: { authorization: `Bearer ${options.scimSecret}`, accept: 'application/scim+json' } });
        if (withSecret.status === 200) record('SCIM endpoint', 'pass', 'reachable, refuses requests without a secret, and accepts the secret');
        else if (withSecret.status === 401)
          record(
            'SCIM endpoint',
            'fail',
            'the secret was refused: paste the same secret in Entra (Provisioning > Admin credentials > Secret token) and the app',
          );
        else record('SCIM endpoint', 'fail', `HTTP ${withSecret.status} with the secret: check the tenant URL ends at the SCIM base (\`…/scim/v2\`)`);
      }
    } catch (error) {
      record('SCIM endpoint', 'fail', `${failure(error)}: \`${base}\` is unreachable (Entra must reach it over HTTPS)`);
    }
  }
  return results;
}
