import type { ChildProcess } from 'node:child_process';
import { type Readable, Writable } from 'node:stream';
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
  /** Child gateways whose output is read now (keepChildErrors), each with what stops reading it. */
  children: Map<ChildProcess, () => void>;
  testEnded(failed: string | null): void | Promise<void>;
  /**
   * Called by the environment as it tears the file down: a child still running (its pipes close after it exits) is
   * read no more, its output drained unread. jest guards the file's globals after that, and a late line written into
   * this object would touch them (a warning, or a setter that recurses without end).
   */
  detachChildren(): void;
}

/**
 * How long a failed test's output waits for lines its child gateways wrote before it ended: a child logs its 500
 * before it answers, but the pipe and the HTTP reply are two channels, and the reply may come in first.
 */
const CHILD_LINES_GRACE_MS = 300;

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

/** The file's one error log, on its global, whichever harness, module instance or child logs into it. */
function errorLog(): ErrorLog {
  const global = globalThis as unknown as { __posternErrorLog?: ErrorLog };
  return (global.__posternErrorLog ??= {
    lines: [],
    dropped: 0,
    children: new Map(),
    testEnded(failed) {
      const print = () => {
        if (failed && this.lines.length) console.error(render(failed, this.lines, this.dropped));
        this.lines = [];
        this.dropped = 0;
      };
      if (!failed || !this.children.size) return print();
      return new Promise<void>((resolve) => setTimeout(resolve, CHILD_LINES_GRACE_MS)).then(print);
    },
    detachChildren() {
      for (const detach of [...this.children.values()]) detach();
    },
  });
}

function keep(line: string): void {
  const log = errorLog();
  log.lines.push(line);
  if (log.lines.length <= KEPT_PER_TEST) return;
  log.lines.shift();
  log.dropped++;
}

function errorsOnFailureTransport(): winston.transport {
  errorLog();
  return new winston.transports.Stream({ level: 'error', stream: new Writable({ write: (chunk, _enc, cb) => (keep(String(chunk)), cb()) }) });
}

/**
 * A child gateway's error lines (a role, a worker, a CLI run: `node dist/src/main.js …` spawned with piped output)
 * kept as the harness's are, printed only if the test they came in during fails, each named by the child's role and
 * pid: a 500 inside a child reached no test output before. Its JSON lines at level error are kept from either stream,
 * and stderr's other lines too (an uncaught exception's stack, a refused start). Call it in the same tick as the spawn
 * (as any other reader of the streams): a stream read by no one yet would lose its first chunks to the first reader.
 */
export function keepChildErrors(child: ChildProcess, name: string): void {
  const { children } = errorLog();
  const label = `${name} (pid ${child.pid})`;
  const readers: [Readable, (chunk: string) => void][] = [];
  const lines = (stream: Readable | null, each: (line: string) => void) => {
    if (!stream) return;
    let rest = '';
    stream.setEncoding('utf8');
    const read = (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const part of parts) if (part.trim()) each(part);
    };
    stream.on('data', read);
    readers.push([stream, read]);
  };
  const json = (line: string): Record<string, unknown> | null => {
    try {
      const value = JSON.parse(line) as unknown;
      return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const fromJson = (entry: Record<string, unknown>) => entry.level === 'error' && keep(JSON.stringify({ process: label, ...entry }));
  lines(child.stdout, (line) => {
    const entry = json(line);
    if (entry) fromJson(entry);
  });
  lines(child.stderr, (line) => {
    const entry = json(line);
    if (entry) fromJson(entry);
    else keep(`[${label} stderr] ${line}`);
  });
  const closed = () => children.delete(child);
  child.once('close', closed);
  children.set(child, () => {
    for (const [stream, read] of readers) stream.off('data', read).resume();
    child.off('close', closed);
    children.delete(child);
  });
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
