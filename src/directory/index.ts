export type { DirectoryGroup, DirectoryIndex, DirectoryUser, GroupLookup, UserLookup } from './types.js';
