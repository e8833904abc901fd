export { ERROR_CODES, type ErrorCode } from './codes.js';
export {
  EntragateError,
  ConfigError,
  TokenError,
  JwksError,
  GroupsError,
  PolicyError,
  ScimError,
  StoreError,
  SessionError,
  bearerChallenge,
  type EntragateErrorOptions,
} from './errors.js';
