import { z } from 'zod';
import { ConfigError } from '../errors/index.js';

/**
 * Parses with a zod schema and turns a failure into a `ConfigError` with a
 * readable message. Used by every factory, once, at construction.
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError('ERR_CONFIG_INVALID', `invalid ${what} configuration:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}
