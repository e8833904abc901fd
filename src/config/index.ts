export {
  parseIdpConfig,
  isGuid,
  type AzureAdConfig,
  type AzureAdConfigInput,
  type AzureCloudName,
  type IdpConfig,
  type IdpConfigInput,
  type ScimConfig,
  type ScimConfigInput,
} from './idp.js';
export { AZURE_CLOUDS, cloudHosts, type AzureCloud, type CloudHosts } from './clouds.js';
export { parseGoDuration, resolveSessionDuration, type SessionDurations } from './duration.js';
