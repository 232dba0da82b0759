/**
 * The test environment of every project: node's, and it tells a test file's kept error log
 * (tests/helpers/log-lines.ts, errorsOnFailure) when each test ends, with the test's name if it failed (a failing
 * beforeAll, beforeEach or afterEach fails its tests too) or an afterAll failed. Only the environment sees a test's
 * outcome: a test file's own afterEach cannot. Plain JS: jest loads it outside any project's transform.
 */
const { TestEnvironment } = require('jest-environment-node');

/** The name jest prints for a test: its describe blocks' names and its own. */
function fullName(test) {
  const names = [];
  for (let block = test; block && block.parent; block = block.parent) names.unshift(block.name);
  return names.join(' › ');
}

class FailureLogEnvironment extends TestEnvironment {
  // Awaited by jest-circus: a failed test's log may wait a moment for its child gateways' last lines.
  async handleTestEvent(event) {
    const log = this.global.__posternErrorLog;
    if (!log) return;
    if (event.name === 'test_done') await log.testEnded(event.test.errors.length ? fullName(event.test) : null);
    else if (event.name === 'hook_failure' && event.hook.type === 'afterAll') await log.testEnded('afterAll');
  }

  async teardown() {
    // A child gateway still writing after the file ended (its pipes close after its exit) has no test to report to.
    this.global.__posternErrorLog?.detachChildren?.();
    await super.teardown();
  }
}

module.exports = FailureLogEnvironment;
