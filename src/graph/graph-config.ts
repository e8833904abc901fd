/** The Graph source's configuration: the options schema (tied to `options.ts`) and the application credentials it selects. */
import { isSecureHost } from '../token/secure-host.js';
import { z } from 'zod';
import type { AzureCloud } from '../config/clouds.js';
import type { Gate } from '../gate.js';
import type { Assert, Equal } from '../config/type-equal.js';
import type { GraphGateConfig, GraphGroupSourceOptions } from './options.js';
import {
  createClientAssertionSigner,
  isAccessTokenCredential,
  isClientCertificate,
  type AccessTokenCredential,
  type ClientAssertionSigner,
  type ClientCertificate,
} from '../credentials/client-credential.js';

const CLOUDS = ['default', 'public', 'usgov', 'usgov_dod', 'china'] as const satisfies readonly AzureCloud[];

const hostSchema = z.string().refine((v) => isSecureHost(v), { message: 'must be an https URL without query (http only for localhost)' });
const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', { message: `expected ${what}` });

// What the source reads of a gate, checked again here since a plain `{ idp, hosts }` has not been through
// the gate's validation. Loose objects: a gate has many more members, and only these are read.
const gateShape = z.object({
  idp: z.object({
    config: z.object({
      client_id: z.string().min(1),
      client_secret: z.string().min(1).optional(),
    }),
  }),
  hosts: z.object({ authorityHost: hostSchema, graphHost: hostSchema }),
});

// A gate must always fit: this line fails to compile the day `Gate` drifts from what is read here.
const gateFits = (gate: Gate): GraphGateConfig => gate;
void gateFits;

/** The schema of `createGraphGroupSource`'s options; internal (the public shape is `GraphGroupSourceOptions`). */
export const graphGroupSourceOptions = z
  .strictObject({
    tenantId: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'must be a tenant id or domain' })
      .optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    clientCertificate: z.custom<ClientCertificate>(isClientCertificate, { message: 'must be `{ privateKey, certificate, algorithm? }`' }).optional(),
    credential: z.custom<AccessTokenCredential>(isAccessTokenCredential, { message: 'must have a `getToken(scopes)` method' }).optional(),
    cloud: z.enum(CLOUDS).optional(),
    graphHost: hostSchema.optional(),
    authorityHost: hostSchema.optional(),
    gate: gateShape.optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    deadlineMs: z.number().int().positive().default(30_000),
    maxRetries: z.number().int().min(0).max(10).default(4),
    backoffBaseMs: z.number().int().positive().default(500),
    backoffMaxMs: z.number().int().positive().default(8_000),
    maxPages: z.number().int().positive().default(100),
    outageBackoffMs: z.number().int().min(0).default(5_000),
    cache: z
      .strictObject({
        ttlMs: z.number().int().min(0).default(300_000),
        max: z.number().int().positive().default(10_000),
      })
      .default({ ttlMs: 300_000, max: 10_000 }),
    fetch: fn<typeof fetch>('a fetch function').optional(),
    sleep: fn<(ms: number) => Promise<void>>('a sleep function').optional(),
    now: fn<() => number>('a clock function').optional(),
    random: fn<() => number>('a random function').optional(),
  })
  // With a gate, `clientSecret` alone is the secret of the gate's `client_id` (Cloudflare's API never
  // returns `client_secret`, so it often comes separately); a `clientId` never borrows another app's secret.
  .refine(
    (o) =>
      (o.clientId === undefined || o.clientSecret !== undefined || o.clientCertificate !== undefined) &&
      ((o.clientSecret === undefined && o.clientCertificate === undefined) || o.clientId !== undefined || o.gate !== undefined),
    { message: 'clientId and clientSecret (or clientCertificate) go together', path: ['clientSecret'] },
  )
  .refine((o) => [o.clientSecret, o.clientCertificate, o.credential].filter((c) => c !== undefined).length <= 1, {
    message: 'set one of clientSecret, clientCertificate and credential',
    path: ['credential'],
  })
  .refine((o) => o.credential === undefined || o.clientId === undefined, {
    message: 'a credential brings its own identity: clientId goes with clientSecret or clientCertificate',
    path: ['clientId'],
  });

// The hand-written interfaces (`options.ts`) and the schema cannot drift: these fail to compile if they do.
type _GraphOptionsMatch = Assert<Equal<z.input<typeof graphGroupSourceOptions>, GraphGroupSourceOptions>>;
type _GraphGateMatch = Assert<Equal<z.input<typeof gateShape>, GraphGateConfig>>;

/** The options once parsed, defaults applied. */
export type ParsedGraphOptions = z.output<typeof graphGroupSourceOptions>;

/** How the source gets application tokens: a secret, a certificate (`private_key_jwt`) or a token getter. */
export type AppCredentials =
  | { kind: 'secret'; id: string; secret: string }
  | { kind: 'certificate'; id: string; signer: ClientAssertionSigner }
  | { kind: 'credential'; credential: AccessTokenCredential };

/**
 * The application credentials of the options: an explicit credential wins; a gate's secret is borrowed
 * only for the gate's own `client_id` and only when no other credential is configured.
 */
export function appCredentials(config: ParsedGraphOptions, clientId: string | undefined): AppCredentials | undefined {
  if (config.credential !== undefined) return { kind: 'credential', credential: config.credential };
  if (clientId === undefined) return undefined;
  if (config.clientCertificate !== undefined)
    return { kind: 'certificate', id: clientId, signer: createClientAssertionSigner(clientId, config.clientCertificate, 'graph group source') };
  const secret = config.clientSecret ?? (config.clientId === undefined ? config.gate?.idp.config.client_secret : undefined);
  return secret === undefined ? undefined : { kind: 'secret', id: clientId, secret };
}
