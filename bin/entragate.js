#!/usr/bin/env node
// The `entragate` command: `npx entragate <command>` (`--help` lists them). The code lives in dist/cli.js.
import('../dist/cli.js').then(
  (cli) => cli.main(process.argv.slice(2)).then((code) => { process.exitCode = code; }),
  (error) => {
    // A checkout that was never built has no dist/: say how to get one instead of a stack trace.
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
      console.error('entragate: dist/ is not built: run `npm run build` (in a checkout, `npm run cli -- <command>` runs the sources)');
    } else console.error(error);
    process.exitCode = 2;
  },
);
