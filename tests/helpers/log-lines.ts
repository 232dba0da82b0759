import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, Logger } from '../../src/logger';

/**
 * The gateway's own logger at `level`, writing its JSON lines into `lines` instead of the console; its error lines also
 * reach the output of a test that fails (errorsOnFailure).
 */
export function capturingLogger(level = 'info'): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(level);
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }) }));
  logger.add(errorsOnFailureTransport());
  return { logger, lines };
}

/** At most this many error lines are kept for one test: a test that fails in a loop still prints a readable tail. */
const KEPT_PER_TEST = 50;

/** The test file's kept error lines, on its global: tests/helpers/failure-env.js calls testEnded as each test ends. */
interface ErrorLog {
  lines: string[];
  dropped: number;
  testEnded(failed: string | null): void;
}

/**
 * The harness's logger when a test passes none: error-level lines only, printed only if the test they were logged
 * during fails. Tests provoke errors on purpose (a dependency down, an unhandled exception answered 500), so printing
 * every error line would bury a CI log; printing none (a silent logger, as before) hid the stack behind the 500 that
 * failed a test. So the lines are kept while a test runs (and the hooks before it); when the test ends the
 * environment (tests/helpers/failure-env.js) says whether it failed: if so they go to console.error, under the test's
 * name, else they are dropped. An afterAll that fails prints what was logged since the last test.
 */
export function errorsOnFailure(): Logger {
  const logger = createLogger('error');
  logger.clear();
  logger.add(errorsOnFailureTransport());
  return logger;
}

function errorsOnFailureTransport(): winston.transport {
  const global = globalThis as unknown as { __posternErrorLog?: ErrorLog };
  // One log for the file, on its global, whichever harness or module instance logs into it.
  const log = (global.__posternErrorLog ??= {
    lines: [],
    dropped: 0,
    testEnded(failed) {
      if (failed && this.lines.length) console.error(render(failed, this.lines, this.dropped));
      this.lines = [];
      this.dropped = 0;
    },
  });
  const keep = (line: string) => {
    log.lines.push(line);
    if (log.lines.length <= KEPT_PER_TEST) return;
    log.lines.shift();
    log.dropped++;
  };
  return new winston.transports.Stream({ level: 'error', stream: new Writable({ write: (chunk, _enc, cb) => (keep(String(chunk)), cb()) }) });
}

/** The kept lines, each with its stack (logged under `error` as one JSON string) on lines of its own. */
function render(failed: string, lines: string[], dropped: number): string {
  const shown = lines.map((line) => {
    try {
      const { error, ...rest } = JSON.parse(line) as { error?: unknown };
      return typeof error === 'string' ? `${JSON.stringify(rest)}\n${error}` : line.trimEnd();
    } catch {
      return line.trimEnd();
    }
  });
  const head = `The gateway's error log while "${failed}" ran (it failed)${dropped ? `, the last ${lines.length} of ${lines.length + dropped} lines` : ''}:`;
  return [head, ...shown].join('\n');
}
