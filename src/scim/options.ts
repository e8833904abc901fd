/*
 * The options of `createScimHandler`, written out by hand so an editor shows each one's documentation
 * and default; the zod schema validating them is internal and checked against the interface.
 */
import { z } from 'zod';
import type { Assert, Equal } from '../config/type-equal.js';
import type { Gate } from '../gate.js';
import type { DirectoryChange, DirectoryStore, JsonValue } from '../store/index.js';
import { isObject } from './schema.js';

/** What the handler reads of a gate: its validated identity-provider configuration. A `Gate` from `createGate` fits. */
export type ScimGate = Pick<Gate, 'idp'>;

/** Options of `createScimHandler`. */
export interface ScimHandlerOptions {
  /** The directory store the users and groups are written to (`openDirectoryStore`). */
  store: DirectoryStore;
  /**
   * Bearer secrets accepted at once (each at least 16 characters): `[current]`, or `[current, previous]`
   * while rotating the Secret Token in Entra's provisioning settings.
   */
  secrets: string[];
  /** Mount path (`/scim/v2`). @defaultValue absent: anything before `/Users`, `/Groups`, … is ignored */
  basePath?: string | undefined;
  /** Request bodies over this many bytes are refused with 413 (1024 to 64 MiB). @defaultValue `1048576` (1 MiB) */
  maxBodyBytes?: number | undefined;
  /** Page size when a list request sends no `count` (1–10000). @defaultValue `100` */
  defaultCount?: number | undefined;
  /** The largest page served; a `count` above it is lowered (1–10000). @defaultValue `1000` */
  maxCount?: number | undefined;
  /**
   * The gate whose identity provider Entra provisions. Its `idp.scim_config` (Cloudflare's JSON, as
   * the gate validated it) sets what a write does to sessions: `user_deprovision`, `seat_deprovision`,
   * `identity_update_behavior` (and the deprecated `group_member_deprovision`). It must be present
   * with `enabled: true`, or construction fails.
   */
  gate: ScimGate;
  /** Called after each committed write made through this handler. @defaultValue none */
  onEvent?: ((change: DirectoryChange) => void) | undefined;
}

/** @internal */
export const handlerOptionsSchema = z.strictObject({
  store: z.custom<DirectoryStore>((v) => isObject(v as JsonValue) && typeof (v as { users?: unknown }).users === 'object', {
    message: 'expected a DirectoryStore from openDirectoryStore()',
  }),
  secrets: z.array(z.string().min(16, 'a SCIM secret must be at least 16 characters')).min(1).max(2),
  basePath: z
    .string()
    .regex(/^\/[^?#]*$/, 'expected an absolute path')
    .optional(),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  defaultCount: z.number().int().min(1).max(10_000).default(100),
  maxCount: z.number().int().min(1).max(10_000).default(1000),
  gate: z.custom<ScimGate>((v) => typeof v === 'object' && v !== null && isObject((v as { idp?: unknown }).idp as JsonValue), {
    message: 'expected the gate from createGate() (an object with `idp`)',
  }),
  onEvent: z.custom<(change: DirectoryChange) => void>((v) => typeof v === 'function', { message: 'expected a function' }).optional(),
});

type _ScimOptionsMatch = Assert<Equal<z.input<typeof handlerOptionsSchema>, ScimHandlerOptions>>;
