#!/usr/bin/env node
// `npm test`'s first half: lint, the format check, the type checks and the build side by side instead of one after
// another. Each is one single-threaded process for most of its run (eslint, prettier, tsc), so on two cores this takes
// about as long as the longest. Each step's output is printed whole when it ends, with its time; the exit code is
// non-zero if any step failed, after all have ended.
// Each file is type-checked once: typecheck:all checks everything tsconfig.json includes (the sources the build
// compiles, and the tests, bench and chaos that ts-jest only transpiles), typecheck:console the console, so the build
// here only emits (build:emit, tsc --noCheck: the same output as `npm run build`, which checks the sources as it
// compiles them, without jest's types in scope).
const { spawn } = require('node:child_process');

const steps = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['build:emit', 'typecheck:all', 'typecheck:console', 'lint', 'format:check', 'check:cycles'];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

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

Promise.all(steps.map(run)).then((oks) => {
  process.exitCode = oks.every(Boolean) ? 0 : 1;
});
