export type { GroupResolution, GroupSource, GroupSourceContext } from './types.js';
export { createTokenGroupSource, type TokenGroupSourceOptions } from './token-source.js';
export { createGroupSourceChain } from './chain.js';
export { createDirectoryGroupSource, type DirectoryGroupSourceOptions } from './directory-source.js';
export { resolveGroups } from './resolve-groups.js';
