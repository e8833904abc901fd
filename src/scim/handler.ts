import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { parseIdpConfig } from '../config/idp.js';
import { ConfigError, ScimError } from '../errors/index.js';
import type {
  DirectoryChange,
  DirectoryStore,
  JsonObject,
  JsonValue,
  ProvisioningPolicy,
  ResourceQuery,
  StoredResource,
  WriteContext,
} from '../store/index.js';
import { handlerOptionsSchema, type ScimGate, type ScimHandlerOptions } from './options.js';
import { resourceTypeDocuments, schemaDocuments, serviceProviderConfig } from './discovery.js';
import { matchesFilter, parseFilter, type AttrPath } from './filter.js';
import { applyPatch, parsePatchRequest, planGroupPatch, type ReadOnlyState } from './patch.js';
import { scimResponse, NO_CONTENT, errorResponse, fromWebRequest, toWebResponse, readJson, type ScimReply, type ScimRequest } from './wire.js';
import { indexedKeys, parseAttributeList, project, wantsMembers, parseIndex } from './projection.js';
import { GROUP_SCHEMA, LIST_SCHEMA, UNSTORABLE, USER_SCHEMA, findKey, isObject, normalizeResource } from './schema.js';

export type { ScimReply, ScimRequest } from './wire.js';

/** A fetch-style handler: WHATWG `Request` in, `Response` out. */
export type ScimHandler = (request: Request) => Promise<Response>;

export type { ScimGate, ScimHandlerOptions } from './options.js';

const RESOURCE_PATH = /\/(users|groups|schemas|resourcetypes|serviceproviderconfig)(?:\/([^/]+))?\/?$/i;
/** The transport-neutral handler behind a {@link ScimHandler}, for adapters that skip WHATWG objects. */
export const SCIM_CORE = Symbol('entragate.scim.core');

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Reads the gate's `scim_config` once, at construction.
 *
 * INVARIANT: the endpoint serves only an identity provider whose configuration
 * enables SCIM. Without `scim_config`, or with `enabled: false` (Cloudflare's
 * "Enable SCIM for this IdP" switch off), construction fails: no write is ever
 * applied under lifecycle rules nobody chose.
 */
function provisioningOf(gate: ScimGate): ProvisioningPolicy {
  // A gate's `idp` is validated already; a hand-built one is validated here, with the same schema.
  const cfg = parseIdpConfig(gate.idp).scim_config;
  if (cfg === undefined) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      "invalid SCIM handler options: `gate.idp.scim_config` is missing: add Cloudflare's `scim_config` with `enabled: true` to the identity provider",
    );
  }
  if (!cfg.enabled) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      'invalid SCIM handler options: `gate.idp.scim_config.enabled` is `false`: SCIM is off for this identity provider (Cloudflare\'s "Enable SCIM for this IdP")',
    );
  }
  return {
    userDeprovision: cfg.user_deprovision,
    seatDeprovision: cfg.seat_deprovision,
    // Cloudflare's deprecated `group_member_deprovision: true` meant what `reauth` means now.
    identityUpdateBehavior: cfg.group_member_deprovision === true && cfg.identity_update_behavior === 'no_action' ? 'reauth' : cfg.identity_update_behavior,
  };
}

/**
 * Creates the SCIM 2.0 service provider Entra provisioning talks to: `/Users`,
 * `/Groups`, `/Schemas`, `/ResourceTypes`, `/ServiceProviderConfig`, on a
 * {@link DirectoryStore}. It tolerates Entra's quirks (PATCH in both
 * `aadOptscim062020` modes, `"False"` strings, unquoted filter values, unknown
 * query parameters, no `User-Agent`) and answers as Entra expects
 * (`application/scim+json`, 201/200/204, string `status` in errors).
 *
 * Filters: `id`, `externalId`, `userName`, `displayName`, `emails.value` and
 * `emails[type eq "work"].value` with `eq` (and `and`s of them) are answered from
 * SQL indexes; any other filter is evaluated in memory over a paged scan of the
 * resource table (linear in its size).
 *
 * It does not rate-limit, does not support `/Bulk`, sorting or ETags, and does
 * not check `Content-Type` on requests (Entra sends `application/scim+json`, some
 * tools `application/json`). It stores `roles` as sent, JSON-in-string values
 * included, so Entra reads back exactly what it wrote. It cannot help objects
 * whose matching value holds characters Entra does not filter on (Microsoft's
 * known issue): Entra never queries them, so they never sync. Text PostgreSQL
 * cannot store (NUL, unpaired surrogates) is refused with 400.
 *
 * What a write does to sessions comes from the gate's `idp.scim_config`, the one
 * place it is configured (the login reads the same): construction fails with
 * `ERR_CONFIG_INVALID` when it is missing or `enabled: false`. Its `secret` and
 * `scim_base_url` are Cloudflare's own and are not read: the bearer secrets are
 * `secrets`.
 *
 * Read-only attributes (RFC 7643 §3.1 `id` and `meta`, a user's `groups`): a POST
 * ignores them; a PATCH that would change one, or a PUT whose `id` or `meta.created`
 * differs from the resource's, is `ERR_SCIM_MUTABILITY` (400, `scimType:
 * "mutability"`). Re-sending the current value is not a change.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createGate } from 'entragate';
 * import { openDirectoryStore } from 'entragate/store';
 * import { createScimHandler, toNodeListener } from 'entragate/scim';
 *
 * const gate = createGate({
 *   idp: {
 *     type: 'azureAD', name: 'Entra ID',
 *     config: { client_id: process.env.CLIENT_ID!, directory_id: process.env.TENANT_ID! },
 *     scim_config: { enabled: true, user_deprovision: true, identity_update_behavior: 'reauth' },
 *   },
 * });
 * const store = await openDirectoryStore({ driver: 'pglite', dataDir: './.entragate-data' });
 * const scim = createScimHandler({ store, gate, secrets: [process.env.SCIM_SECRET!], basePath: '/scim/v2' });
 * createServer(toNodeListener(scim)).listen(3000);
 * ```
 */
export function createScimHandler(options: ScimHandlerOptions): ScimHandler {
  const parsed = handlerOptionsSchema.safeParse(options);
  if (!parsed.success) throw new ConfigError('ERR_CONFIG_INVALID', `invalid SCIM handler options: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;
  const store = opts.store;
  const secretDigests = opts.secrets.map(digest);
  const basePath = opts.basePath?.replace(/\/+$/, '');
  const ctx: WriteContext = { provisioning: provisioningOf(opts.gate) };
  const onEvent = opts.onEvent;
  const maxCount = Math.max(opts.maxCount, 1);

  const unauthorized = (message: string): ScimError =>
    new ScimError('ERR_SCIM_UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': 'Bearer realm="entragate-scim"' } });

  /** INVARIANT: every secret is compared, in constant time over SHA-256 digests; no early exit reveals which one matched. */
  function authenticate(request: ScimRequest): void {
    const header = request.header('authorization');
    if (header === null) throw unauthorized('a bearer secret is required');
    const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
    if (!match) throw unauthorized('authorization must be a bearer secret');
    const presented = digest(match[1]!);
    let ok = false;
    for (const d of secretDigests) ok = timingSafeEqual(presented, d) || ok;
    if (!ok) throw unauthorized('the bearer secret is not valid');
  }

  function notify(change: DirectoryChange | undefined): void {
    if (!onEvent || !change) return;
    try {
      onEvent(change);
    } catch {
      // The write is committed; a failing observer cannot change the response.
    }
  }

  function render(kind: 'User' | 'Group', r: StoredResource, base: string): JsonObject {
    const schemas = [kind === 'User' ? USER_SCHEMA : GROUP_SCHEMA];
    for (const key of Object.keys(r.attributes)) if (key.toLowerCase().startsWith('urn:') && key !== USER_SCHEMA && key !== GROUP_SCHEMA) schemas.push(key);
    const out: JsonObject = { schemas, id: r.id, ...r.attributes };
    if (kind === 'Group' && r.members) {
      out.members = r.members.map((m) => ({
        value: m.value,
        type: m.type,
        $ref: `${base}/${m.type === 'User' ? 'Users' : 'Groups'}/${encodeURIComponent(m.value)}`,
      }));
    }
    out.meta = {
      resourceType: kind,
      created: r.created,
      lastModified: r.lastModified,
      location: `${base}/${kind === 'User' ? 'Users' : 'Groups'}/${encodeURIComponent(r.id)}`,
      version: `W/"${r.version}"`,
    };
    return out;
  }

  async function list(kind: 'User' | 'Group', url: URL, base: string, include: AttrPath[] | undefined, exclude: AttrPath[] | undefined): Promise<ScimReply> {
    const startIndex = parseIndex(url.searchParams.get('startIndex'), 1, 1, Number.MAX_SAFE_INTEGER);
    const count = parseIndex(url.searchParams.get('count'), opts.defaultCount, 0, maxCount);
    const rawFilter = url.searchParams.get('filter');
    const query: ResourceQuery = { startIndex, count, members: kind === 'Group' && wantsMembers(include, exclude) };
    if (rawFilter !== null && rawFilter.trim() !== '') {
      const filter = parseFilter(rawFilter);
      const { keys, exact } = indexedKeys(filter, kind);
      if (keys.length > 0) query.keys = keys;
      if (!exact) query.match = (r) => matchesFilter(filter, render(kind, r, base));
      // A members filter needs members to evaluate against.
      if (query.match && kind === 'Group') query.members = true;
    }
    const page = await (kind === 'User' ? store.users.query(query) : store.groups.query(query));
    const keepMembers = kind === 'Group' && wantsMembers(include, exclude);
    const resources = page.resources.map((r) => {
      const rendered = render(kind, r, base);
      if (kind === 'Group' && !keepMembers) delete rendered.members;
      return project(rendered, include, exclude);
    });
    return scimResponse(200, { schemas: [LIST_SCHEMA], totalResults: page.totalResults, Resources: resources, startIndex, itemsPerPage: resources.length });
  }

  async function getOne(
    kind: 'User' | 'Group',
    id: string,
    base: string,
    include: AttrPath[] | undefined,
    exclude: AttrPath[] | undefined,
  ): Promise<ScimReply> {
    const r = kind === 'User' ? await store.users.get(id) : await store.groups.get(id, { members: wantsMembers(include, exclude) });
    if (!r) throw new ScimError('ERR_SCIM_NOT_FOUND', `${kind.toLowerCase()} \`${id}\` not found`);
    return scimResponse(200, project(render(kind, r, base), include, exclude));
  }

  function memberIdsOf(members: JsonValue | undefined): string[] {
    if (members === undefined || members === null) return [];
    if (!Array.isArray(members)) throw new ScimError('ERR_SCIM_INVALID_VALUE', 'attribute `members` must be an array', { scimType: 'invalidValue' });
    return members.flatMap((m) => {
      if (m === null) return [];
      const v = isObject(m) ? m[findKey(m, 'value') ?? 'value'] : undefined;
      if (typeof v !== 'string' || v === '')
        throw new ScimError('ERR_SCIM_INVALID_VALUE', 'each of `members` must have a string `value`', { scimType: 'invalidValue' });
      return [v];
    });
  }

  function methodNotAllowed(allow: string): never {
    throw new ScimError('ERR_SCIM_METHOD_NOT_ALLOWED', `method not allowed: allowed are \`${allow}\``, { headers: { Allow: allow } });
  }

  /** The rendered `id` and `meta` a PATCH compares read-only operations with. */
  function readOnlyOf(kind: 'User' | 'Group', r: StoredResource, base: string): ReadOnlyState {
    const rendered = render(kind, { ...r, attributes: {} }, base);
    return { id: r.id, meta: rendered.meta as JsonObject };
  }

  /**
   * PUT replaces what the client may write; `meta` apart from `created`, and a user's
   * `groups`, are ignored as RFC 7644 §3.5.1 says of read-only values (an echo of an
   * earlier GET carries a stale `lastModified`, which is not an attempt to change it).
   * An `id` naming another resource, or a `created` other than the resource's, is
   * refused with `mutability`: ignoring it would let a body meant for one resource
   * overwrite another. The same values as the resource's pass (clients echo them).
   */
  async function checkPutReadOnly(kind: 'User' | 'Group', id: string, body: JsonValue): Promise<void> {
    if (!isObject(body)) return; // normalizeResource answers the shape
    const idKey = findKey(body, 'id');
    const sentId = idKey === undefined ? null : body[idKey]!;
    if (sentId !== null && sentId !== id)
      throw new ScimError('ERR_SCIM_MUTABILITY', 'attribute `id` is read-only: it cannot be changed, and must name the resource in the path', {
        scimType: 'mutability',
      });
    const metaKey = findKey(body, 'meta');
    const meta = metaKey === undefined ? undefined : body[metaKey];
    const createdKey = isObject(meta) ? findKey(meta, 'created') : undefined;
    const created = createdKey === undefined ? null : (meta as JsonObject)[createdKey]!;
    if (created === null) return;
    const current = kind === 'User' ? await store.users.get(id) : await store.groups.get(id);
    // An unknown id is answered by the replace itself (404).
    if (current && !(typeof created === 'string' && Date.parse(created) === Date.parse(current.created))) {
      throw new ScimError('ERR_SCIM_MUTABILITY', 'attribute `meta.created` is read-only: it cannot be changed', { scimType: 'mutability' });
    }
  }

  /**
   * Users and groups. Every response that carries a resource honours `attributes` and
   * `excludedAttributes` (RFC 7644 §3.9), read before any write so a bad list changes
   * nothing. A group PATCH answers 204, as Entra expects, unless the request asks for a
   * representation with either parameter: then 200 with it (§3.5.2: "The server MUST
   * return a 200 OK if the "attributes" parameter is specified in the request").
   */
  async function resource(kind: 'User' | 'Group', id: string | undefined, request: ScimRequest, url: URL, base: string): Promise<ScimReply> {
    const method = request.method.toUpperCase();
    const include = parseAttributeList(url.searchParams.get('attributes'));
    const exclude = parseAttributeList(url.searchParams.get('excludedAttributes'));
    const members = wantsMembers(include, exclude);
    const reply = (status: number, r: StoredResource, headers?: Record<string, string>): ScimReply => {
      const rendered = render(kind, r, base);
      if (kind === 'Group' && !members) delete rendered.members;
      return scimResponse(status, project(rendered, include, exclude), headers);
    };
    if (id === undefined) {
      if (method === 'GET') return list(kind, url, base, include, exclude);
      if (method !== 'POST') methodNotAllowed('GET, POST');
      const { attributes, members: memberList } = normalizeResource(await readJson(request, opts.maxBodyBytes), kind);
      const result = kind === 'User' ? await store.users.create(attributes, ctx) : await store.groups.create(attributes, memberIdsOf(memberList), ctx);
      notify(result.change);
      // The store returns a created group with its members: nothing is read back.
      const created = result.resource!;
      return reply(201, created, { location: `${base}/${kind === 'User' ? 'Users' : 'Groups'}/${encodeURIComponent(created.id)}` });
    }
    switch (method) {
      case 'GET':
        return getOne(kind, id, base, include, exclude);
      case 'PUT': {
        const body = await readJson(request, opts.maxBodyBytes);
        await checkPutReadOnly(kind, id, body);
        const { attributes, members: memberList } = normalizeResource(body, kind);
        const result =
          kind === 'User' ? await store.users.replace(id, attributes, ctx) : await store.groups.replace(id, attributes, memberIdsOf(memberList), ctx);
        notify(result.change);
        if (!result.resource) return NO_CONTENT;
        if (kind === 'Group' && members) result.resource.members = (await store.groups.get(id, { members: true }))?.members ?? [];
        return reply(200, result.resource);
      }
      case 'PATCH': {
        const operations = parsePatchRequest(await readJson(request, opts.maxBodyBytes));
        if (kind === 'User') {
          const result = await store.users.update(id, (current) => applyPatch('User', current.attributes, operations, readOnlyOf('User', current, base)), ctx);
          notify(result.change);
          // A seat removed on deactivation has no representation left to return.
          return result.resource ? reply(200, result.resource) : NO_CONTENT;
        }
        const plan = planGroupPatch(operations);
        const change: Parameters<DirectoryStore['groups']['update']>[1] = { members: plan.memberOps };
        if (plan.attributeOps.length > 0)
          change.attributes = (current) => applyPatch('Group', current.attributes, plan.attributeOps, readOnlyOf('Group', current, base));
        const result = await store.groups.update(id, change, ctx);
        notify(result.change);
        if (include === undefined && exclude === undefined) return NO_CONTENT;
        // Read after the commit: the members the PATCH left.
        const after = await store.groups.get(id, { members });
        return after ? reply(200, after) : NO_CONTENT;
      }
      case 'DELETE': {
        const result = kind === 'User' ? await store.users.delete(id, ctx) : await store.groups.delete(id, ctx);
        notify(result.change);
        return NO_CONTENT;
      }
      default:
        return methodNotAllowed('GET, PUT, PATCH, DELETE');
    }
  }

  function discovery(name: string, id: string | undefined, method: string, base: string): ScimReply {
    if (method !== 'GET') methodNotAllowed('GET');
    if (name === 'serviceproviderconfig') {
      if (id !== undefined) throw new ScimError('ERR_SCIM_NOT_FOUND', `resource \`${id}\` not found`);
      return scimResponse(200, serviceProviderConfig(base, maxCount));
    }
    const docs = name === 'schemas' ? schemaDocuments(base) : resourceTypeDocuments(base);
    if (id !== undefined) {
      const doc = docs.find((d) => d.id === id);
      if (!doc) throw new ScimError('ERR_SCIM_NOT_FOUND', `${name === 'schemas' ? 'schema' : 'resource type'} \`${id}\` not found`);
      return scimResponse(200, doc);
    }
    return scimResponse(200, { schemas: [LIST_SCHEMA], totalResults: docs.length, Resources: docs, startIndex: 1, itemsPerPage: docs.length });
  }

  async function handle(request: ScimRequest): Promise<ScimReply> {
    try {
      authenticate(request);
      const url = new URL(request.url);
      let path = url.pathname;
      if (basePath !== undefined) {
        if (path !== basePath && !path.startsWith(`${basePath}/`)) throw new ScimError('ERR_SCIM_NOT_FOUND', 'no SCIM resource at this path');
        path = path.slice(basePath.length);
      }
      const match = RESOURCE_PATH.exec(path);
      if (!match || (basePath !== undefined && match.index !== 0)) throw new ScimError('ERR_SCIM_NOT_FOUND', 'no SCIM resource at this path');
      const base = `${url.origin}${url.pathname.slice(0, url.pathname.length - path.length + match.index)}`;
      const name = match[1]!.toLowerCase();
      let id: string | undefined;
      if (match[2] !== undefined) {
        try {
          id = decodeURIComponent(match[2]);
        } catch {
          throw new ScimError('ERR_SCIM_NOT_FOUND', 'no SCIM resource at this path');
        }
        // No stored id holds such text; asking the store would fail the query instead of answering 404.
        if (UNSTORABLE.test(id)) throw new ScimError('ERR_SCIM_NOT_FOUND', 'no SCIM resource at this path');
      }
      if (name === 'users') return await resource('User', id, request, url, base);
      if (name === 'groups') return await resource('Group', id, request, url, base);
      return discovery(name, id, request.method.toUpperCase(), base);
    } catch (err) {
      return errorResponse(err);
    }
  }

  const handleScim: ScimHandler = async (request) => toWebResponse(await handle(fromWebRequest(request)));
  Object.defineProperty(handleScim, SCIM_CORE, { value: handle });
  return handleScim;
}
