export type {
  DirectoryGroup,
  DirectoryIndex,
  DirectoryMembership,
  DirectorySnapshot,
  DirectoryUser,
  GroupLookup,
  UserLookup,
} from './types.js';
export { createDirectoryIndex, type DirectoryIndexOptions } from './directory-index.js';
export { userNameKey } from './user-name.js';
