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
  challengeOf,
  type EntragateErrorOptions,
} from './errors.js';
