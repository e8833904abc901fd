export { parseIdpConfig, idpConfigSchema, isGuid, type IdpConfig, type IdpConfigInput, type ScimConfig } from './idp.js';
export { AZURE_CLOUDS, cloudHosts, type AzureCloud, type CloudHosts } from './clouds.js';
export { parseGoDuration, resolveSessionDuration, type SessionDurations } from './duration.js';
