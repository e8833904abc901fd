import type { JsonObject } from '../store/index.js';
import { ENTERPRISE_ATTRIBUTES, ENTERPRISE_SCHEMA, GROUP_ATTRIBUTES, GROUP_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA, type AttributeDef } from './schema.js';

const UNIQUE = new Set(['userName', 'displayName']);

/**
 * Renders an attribute for `/Schemas`. Kept minimal on purpose: Microsoft's
 * validator rejects `password` and `emails.display`/`emails.primary` in a
 * discovered schema, so multi-valued attributes advertise `value` and `type` only.
 */
function renderAttribute(def: AttributeDef, owner: string): JsonObject {
  const out: JsonObject = {
    name: def.name,
    type: def.type,
    multiValued: def.multiValued === true,
    description: def.description ?? `${owner} ${def.name}`,
    required: def.required === true,
    caseExact: def.caseExact === true,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: UNIQUE.has(def.name) && def.required ? 'server' : 'none',
  };
  if (def.subAttributes) {
    const subs = def.multiValued && def.name !== 'members' ? def.subAttributes.filter((s) => s.name === 'value' || s.name === 'type') : def.subAttributes;
    out.subAttributes = subs.map((s) => renderAttribute(s, `${owner} ${def.name}`));
  }
  return out;
}

function schemaDoc(id: string, name: string, description: string, defs: readonly AttributeDef[], base: string): JsonObject {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id,
    name,
    description,
    attributes: defs.map((d) => renderAttribute(d, name)),
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${id}` },
  };
}

/** The three schemas served at `/Schemas`. */
export function schemaDocuments(base: string): JsonObject[] {
  return [
    schemaDoc(USER_SCHEMA, 'User', 'User Account', USER_ATTRIBUTES, base),
    schemaDoc(ENTERPRISE_SCHEMA, 'EnterpriseUser', 'Enterprise User', ENTERPRISE_ATTRIBUTES, base),
    schemaDoc(GROUP_SCHEMA, 'Group', 'Group', GROUP_ATTRIBUTES, base),
  ];
}

/** The resource types served at `/ResourceTypes`. */
export function resourceTypeDocuments(base: string): JsonObject[] {
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'User Account',
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Group',
      schema: GROUP_SCHEMA,
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

/** `/ServiceProviderConfig`: PATCH and filtering supported; bulk, sort, ETags and password change not. */
export function serviceProviderConfig(base: string, maxResults: number): JsonObject {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'Authentication with a long-lived bearer secret (the Entra "Secret Token")',
        specUri: 'https://www.rfc-editor.org/info/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}
