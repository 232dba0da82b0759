/**
 * Preloaded into a built `postern` process (`node --require <this> dist/src/main.js …`): at exit it writes the files
 * the process loaded (require.cache) as JSON to $LOADED_FILES_OUT, so a test can check what a command or role paid to
 * start (tests/ops/cli.test.ts, tests/smoke/embedded-start.test.ts).
 */
const fs = require('node:fs');

process.on('exit', () => {
  if (process.env.LOADED_FILES_OUT) fs.writeFileSync(process.env.LOADED_FILES_OUT, JSON.stringify(Object.keys(require.cache)));
});
