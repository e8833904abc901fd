import { describeEntraSession } from './session-suite.js';
import { pgliteFactory } from './helpers.js';

describeEntraSession('PGlite', pgliteFactory);
