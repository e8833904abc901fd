/** The Graph membership walk: the user's transitive groups, page by page, mapped to group refs, or why not. */
import { quoteId } from '../groups/resolution.js';
import type { GroupResolution } from '../groups/types.js';
import type { GroupField, GroupRef } from '../types.js';
import { isRecord, readJson, SAFE_CODE, type Auth, type Failure, type GraphClient } from './graph-client.js';
import type { ParsedGraphOptions } from './graph-config.js';

/** The group fields a Graph answer supplies for every group (`$select=id,displayName,mail`). */
export const GRAPH_FIELDS: readonly GroupField[] = Object.freeze(['id', 'name', 'email'] as const);

const GROUP_TYPE = '#microsoft.graph.group';

/** What the walk is built from. */
export interface GraphMembershipSettings {
  readonly config: ParsedGraphOptions;
  readonly hosts: { readonly graphHost: string };
  readonly client: GraphClient;
  readonly now: () => number;
  /** Whether application credentials are configured (a refused delegated token names the fix when not). */
  readonly hasCredentials: boolean;
  /** The application auth a refused delegated token falls back to, or why there is none. */
  readonly applicationAuth: (tid: string) => Auth | Failure;
}

/** The user's groups by oid (a lowercase GUID), or why not (a `Failure`, which says whether it was an outage). */
export type FetchGroups = (oid: string, initialAuth: Auth, tid: string) => Promise<GroupResolution | Failure>;

/** The walk of one Graph source: `GET …/transitiveMemberOf/microsoft.graph.group`, following `@odata.nextLink` to the end. */
export function createGraphMembership(settings: GraphMembershipSettings): FetchGroups {
  const { config, hosts, client, now, hasCredentials, applicationAuth } = settings;
  const graphBase = new URL(hosts.graphHost);
  const graphPathPrefix = `${graphBase.pathname.replace(/\/$/, '')}/v1.0/`;

  function forbidden(auth: Auth, graphCode: string): Failure {
    const permission =
      auth.kind === 'application'
        ? 'grant the application permission `GroupMember.Read.All` (or `Directory.Read.All`) with admin consent'
        : 'the delegated token needs `GroupMember.Read.All` (or `Directory.Read.All`) with consent';
    return { code: 'ERR_GRAPH_FORBIDDEN', reason: `graph forbidden: \`${graphCode}\`: ${permission}` };
  }

  /** The user's groups, or why not (a `Failure`, which says whether it was an outage). */
  async function fetchGroups(oid: string, initialAuth: Auth, tid: string): Promise<GroupResolution | Failure> {
    const deadline = now() + config.deadlineMs;
    let auth = initialAuth;
    const authorization = async (): Promise<RequestInit | Failure> => {
      const token = auth.kind === 'delegated' ? auth.token : await client.appToken(auth.tenant, deadline);
      if (typeof token !== 'string') return token;
      return { method: 'GET', headers: { authorization: `Bearer ${token}`, consistencylevel: 'eventual', accept: 'application/json' } };
    };
    const groups: GroupRef[] = [];
    const seen = new Set<string>();
    const visited = new Set<string>();
    let url: string | undefined =
      `${hosts.graphHost}/v1.0/users/${oid}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName,mail&$top=999&$count=true`;
    let refreshed = false;
    let pages = 0;
    while (url !== undefined) {
      if (++pages > config.maxPages) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph paging exceeded ${config.maxPages} pages` };
      visited.add(url);
      const response = await client.send('graph', url, authorization, deadline);
      if (!(response instanceof Response)) return response;
      const json = await readJson(response);
      const graphCode =
        isRecord(json) && isRecord(json.error) && typeof json.error.code === 'string' && SAFE_CODE.test(json.error.code) ? json.error.code : 'unknown';
      if (response.status === 401 && auth.kind === 'application' && !refreshed) {
        // A revoked or rotated app token: fetch a new one once, then retry this page.
        client.forgetAppToken(auth.tenant);
        refreshed = true;
        pages--;
        continue;
      }
      if (response.status === 401 && auth.kind === 'delegated') {
        // A login's Graph token lives about an hour, a session much longer: application permissions, when configured, take over.
        const fallback = applicationAuth(tid);
        if ('code' in fallback) {
          const hint = hasCredentials ? fallback.reason : 'configure clientId and clientSecret to fall back to application permissions';
          return {
            code: 'ERR_GRAPH_FORBIDDEN',
            reason: `graph refused the delegated token: \`401\` \`${graphCode}\`: it expired or is not for Microsoft Graph; ${hint}`,
          };
        }
        auth = fallback;
        pages--;
        continue;
      }
      if (response.status === 403) return forbidden(auth, graphCode);
      if (response.status === 404) {
        // INVARIANT: a user Graph does not hold is unknown membership (fail closed), reported as a 403-class answer, not an outage.
        const where = auth.kind === 'application' ? ` is not in tenant ${quoteId(auth.tenant)}` : '';
        return { code: 'ERR_DIRECTORY_USER_UNKNOWN', reason: `graph user not found: oid \`${oid}\`${where}` };
      }
      if (response.status !== 200) {
        const failure: Failure = { code: 'ERR_GRAPH_REQUEST_FAILED', reason: `graph request failed: status \`${response.status}\` \`${graphCode}\`` };
        // 500, 502, 503 and 504 were retried by `send`; any other 5xx is Graph failing too, a 4xx is this request.
        if (response.status >= 500) failure.outage = true;
        return failure;
      }
      if (!isRecord(json) || !Array.isArray(json.value)) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph response malformed: no `value` array' };
      for (const item of json.value) {
        if (!isRecord(item) || typeof item.id !== 'string' || item.id === '') continue;
        // The cast should return groups only; roles and administrative units are not groups.
        if (item['@odata.type'] !== undefined && item['@odata.type'] !== GROUP_TYPE) continue;
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        const ref: GroupRef = { id: item.id };
        if (typeof item.displayName === 'string') ref.name = item.displayName;
        if (typeof item.mail === 'string' && item.mail !== '') ref.email = item.mail;
        groups.push(ref);
      }
      const next = json['@odata.nextLink'];
      if (next === undefined || next === null) url = undefined;
      else {
        const checked = checkNextLink(next);
        if (checked === undefined) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link refused: not on the configured graph host' };
        if (visited.has(checked)) return { code: 'ERR_GRAPH_REQUEST_FAILED', reason: 'graph next link repeats a page' };
        url = checked;
      }
    }
    return { groups, membership: { state: 'complete', source: 'graph', fields: GRAPH_FIELDS } };
  }

  function checkNextLink(link: unknown): string | undefined {
    if (typeof link !== 'string' || link.length > 16_384) return undefined;
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      return undefined;
    }
    // INVARIANT: the bearer token only ever goes to the configured Graph origin and API path.
    if (url.origin !== graphBase.origin || url.username || url.password || !url.pathname.startsWith(graphPathPrefix)) return undefined;
    return url.href;
  }

  return fetchGroups;
}
