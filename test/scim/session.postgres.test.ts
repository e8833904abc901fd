import { describeEntraSession } from './session-suite.js';
import { postgresFactory } from './helpers.js';

// No skip: when PostgreSQL is not reachable, `postgresFactory` throws and these tests fail.
describeEntraSession('PostgreSQL', postgresFactory);
