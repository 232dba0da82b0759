/**
 * The harness's logger keeps the gateway's error lines and prints them only for a test that fails
 * (tests/helpers/log-lines.ts, errorsOnFailure): the stack behind a 500 reaches a failing run's output, while an
 * error a passing test provoked stays out of it. The same holds for a gateway a test runs as a child process
 * (keepChildErrors, wired into tests/helpers/roles.ts and worker-process.ts). A jest of its own runs a fixture file
 * with one of each; the child's needs the built gateway (dist/, as every test of a child process).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** jest on one fixture alone, in band, on the embedded store: its exit code and everything it printed. */
function runFixture(file: string): Promise<{ code: number; output: string }> {
  const args = [
    require.resolve('jest/bin/jest'),
    '--selectProjects',
    'embedded',
    '--testMatch',
    `<rootDir>/tests/fixtures/failure-log/${file}`,
    '--runInBand',
    '--ci',
  ];
  // Without the outer run's reporting variables: the nested run would otherwise add the fixture to
  // tests/durations.json (UPDATE_TEST_DURATIONS) and to the CPU list (TEST_CPU_OUT) as if it were a suite file.
  const env: NodeJS.ProcessEnv = { ...process.env, POSTERN_TEST_DB: 'sqlite', FORCE_COLOR: '0' };
  delete env.UPDATE_TEST_DURATIONS;
  delete env.TEST_CPU_OUT;
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, output: `${stdout}${stderr}` }));
  });
}

it("prints the error lines logged while a test ran, with their stacks, when it fails, and not a passing test's", async () => {
  const { code, output } = await runFixture('answers-500.fixture.ts');
  expect({ code, tests: /Tests: .*/.exec(output)?.[0] }).toEqual({ code: 1, tests: 'Tests:       1 failed, 1 passed, 2 total' });
  expect(output).toContain(`The gateway's error log while "fails after a 500 it does not expect" ran (it failed):`);
  // The 500's log line, then its stack on lines of its own.
  expect(output).toMatch(/"message":"unhandled exception".*\n\s*Error: boom-by-surprise\n\s+at /);
  expect(output).not.toContain('boom-on-purpose');
}, 120_000);

it("prints a child gateway's error lines, named by its role and pid, with their stacks, only for the test that fails", async () => {
  const { code, output } = await runFixture('child-500.fixture.ts');
  expect({ code, tests: /Tests: .*/.exec(output)?.[0] }).toEqual({ code: 1, tests: 'Tests:       1 failed, 1 passed, 2 total' });
  expect(output).toContain(`The gateway's error log while "fails after a 500 in the child it does not expect" ran (it failed):`);
  // The child's 500 log line, then its stack (the driver's text, the statement left out) on lines of its own.
  expect(output).toMatch(/"process":"api \(pid \d+\)".*"message":"unhandled exception".*\n\s*SqliteError: \[statement omitted\] - boom-by-surprise\n\s+at /);
  expect(output).not.toContain('boom-on-purpose');
}, 120_000);
