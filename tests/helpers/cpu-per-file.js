/**
 * With TEST_CPU_OUT=<file>, each test file appends a line: project backend, file, its worker's CPU seconds while the file
 * ran (imports, harness and tests), the CPU of the child processes it started that had ended by then (roles, CLIs;
 * a browser still open at the file's last hook is not counted), and wall seconds. The suite is CPU-bound on two
 * cores, so this, not jest's wall times, tells which files to make cheaper (docs/testing.md).
 */
/* global afterAll, expect */
const fs = require('node:fs');

/** utime+stime and cutime+cstime of this process, in seconds (/proc/self/stat counts in clock ticks of 1/100 s). */
function cpu() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}

// Every file loads this (jest.config.js says why); without TEST_CPU_OUT it does nothing.
const start = process.env.TEST_CPU_OUT ? cpu() : null;
const startedAt = Date.now();
afterAll(() => {
  if (!start) return;
  const end = cpu();
  const file = expect.getState().testPath.replace(`${process.cwd()}/`, '');
  const line = [
    process.env.POSTERN_TEST_DB === 'sqlite' ? 'embedded' : 'mysql+redis',
    file,
    (end.own - start.own).toFixed(2),
    (end.children - start.children).toFixed(2),
    ((Date.now() - startedAt) / 1000).toFixed(1),
  ];
  fs.appendFileSync(process.env.TEST_CPU_OUT, `${line.join('\t')}\n`);
});
