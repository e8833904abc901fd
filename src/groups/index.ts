export type { GroupResolution, GroupSource, GroupSourceContext } from './types.js';
