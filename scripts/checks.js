#!/usr/bin/env node
// `npm test`: lint, the format check, the type checks and the build side by side, and jest beside them once the build
// is done. Each check is one single-threaded process for most of its run (eslint, prettier, tsc), and jest's workers
// leave part of the two cores idle while they wait on MariaDB, sinks, child roles and timers, so the checks fill that
// instead of holding jest back by their whole time (measured in docs/testing.md). Jest waits for the build only:
// tests/smoke, the child roles and the CLI tests run dist/. Each check's output is printed whole when it ends, with its
// time, and the failed ones are named again at the very end (after jest's summary); the exit code is non-zero if
// anything failed, after all have ended. A failed build means no jest run (the dist tests would fail for that reason).
//
//   node scripts/checks.js                   the checks only (default steps)
//   node scripts/checks.js lint format:check those steps only
//   node scripts/checks.js --jest [args]     the checks, and jest with [args] once build:emit has passed (npm test)
//
// Each file is type-checked once: typecheck:all checks everything tsconfig.json includes (the sources the build
// compiles, and the tests, bench and chaos that ts-jest only transpiles), typecheck:console the console, so the build
// here only emits (build:emit, tsc --noCheck: the same output as `npm run build`, which checks the sources as it
// compiles them, without jest's types in scope).
const { spawn } = require('node:child_process');

const argv = process.argv.slice(2);
const jestAt = argv.indexOf('--jest');
const named = jestAt === -1 ? argv : argv.slice(0, jestAt);
const jestArgs = jestAt === -1 ? null : argv.slice(jestAt + 1);
const steps = named.length ? named : ['build:emit', 'typecheck:all', 'typecheck:console', 'lint', 'format:check'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const BUILD = 'build:emit';

function run(script) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(npm, ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => out.push(b));
    child.on('error', (err) => out.push(Buffer.from(`${err.message}\n`)));
    child.on('close', (code, signal) => {
      const ok = code === 0;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`${ok ? 'ok' : 'FAILED'}: npm run ${script} (${secs} s${ok ? '' : `, ${signal ?? `exit ${code}`}`})\n`);
      process.stdout.write(Buffer.concat(out));
      resolve(ok);
    });
  });
}

/** jest in this process's terminal (its progress and colours as when run alone), resolving to whether it passed. */
function jest(args) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [require.resolve('jest/bin/jest'), ...args], { stdio: 'inherit' });
    child.on('error', (err) => {
      process.stderr.write(`jest: ${err.message}\n`);
      resolve(false);
    });
    child.on('close', (code, signal) => {
      process.stdout.write(
        `${code === 0 ? 'ok' : 'FAILED'}: jest (${((Date.now() - started) / 1000).toFixed(1)} s${code === 0 ? '' : `, ${signal ?? `exit ${code}`}`})\n`,
      );
      resolve(code === 0);
    });
  });
}

async function main() {
  const results = new Map(steps.map((s) => [s, run(s)]));
  if (jestArgs) {
    // Without a build step in the list (a partial run), jest uses the dist/ already there.
    const built = results.has(BUILD) ? await results.get(BUILD) : true;
    results.set('jest', built ? jest(jestArgs) : Promise.resolve(false));
    if (!built) process.stdout.write(`jest not run: npm run ${BUILD} failed\n`);
  }
  const failed = [];
  for (const [name, ok] of results) if (!(await ok)) failed.push(name);
  if (failed.length) process.stdout.write(`FAILED: ${failed.join(', ')}\n`);
  process.exitCode = failed.length ? 1 : 0;
}

main();
