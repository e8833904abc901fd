#!/usr/bin/env node
// The `entragate` command: `npx entragate check|eval|test|doctor`. The code lives in dist/cli.js.
import('../dist/cli.js').then(
  (cli) => cli.main(process.argv.slice(2)).then((code) => { process.exitCode = code; }),
  (error) => { console.error(error); process.exitCode = 2; },
);
