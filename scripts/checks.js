#!/usr/bin/env node
// `npm test`'s first half: lint, the format check and the build side by side instead of one after another. Each is
// one single-threaded process for most of its run (eslint, prettier, tsc), so on two cores this takes about as long
// as the build alone. Each step's output is printed whole when it ends, with its time; the exit code is non-zero if
// any step failed, after all have ended. typecheck:all type-checks what the build does not (tests, bench, chaos):
// ts-jest only transpiles (isolatedModules), so without it a type error in a test would pass unseen.
const { spawn } = require('node:child_process');

const steps = process.argv.slice(2).length ? process.argv.slice(2) : ['build', 'lint', 'format:check', 'typecheck:all'];
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
