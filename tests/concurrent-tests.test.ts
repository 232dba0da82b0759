/**
 * it.concurrent tests in one file: one that ends leaves the others free to load modules. jest-circus tells the runtime
 * "between tests" when any test function ends, and jest-runtime then refuses every require: a test still running
 * failed its first lazy load, and a command's first call through the harness answered 500 (tests/send/outcomes under
 * load). tests/helpers/code-cache-runtime.js counts the running tests and hooks instead.
 */
import { Harness, startHarness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

let ended!: () => void;
const firstEnded = new Promise<void>((resolve) => (ended = resolve));

it.concurrent('ends first', async () => {
  ended();
});

it.concurrent('calls a command this file has not called yet after another concurrent test has ended', async () => {
  await firstEnded;
  // The other test's end is told to the runtime in the promise jobs after its function returns: a timer comes after them.
  await new Promise((resolve) => setTimeout(resolve, 20));
  // users.get's module loads at its first call (the command table is lazy, src/command.ts).
  const res = await h.call({ Command: 'users.get', AdminAPIKey: h.adminKey });
  expect(res).toMatchObject({ Success: true, ErrorCode: 0 });
});
