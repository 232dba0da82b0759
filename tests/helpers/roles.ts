/**
 * The built gateway (`node dist/src/main.js <role>`) as child processes, for tests and the chaos suite that kill
 * a role with -9 and start it again. Each child is ended by its own pid; any left at exit is killed.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { keepChildErrors } from './log-lines';

export const MAIN = path.resolve(__dirname, '../../dist/src/main.js');
// Compiled into dist/tests/helpers (the chaos suite), the entry point is two levels further up.
const main = () => (fs.existsSync(MAIN) ? MAIN : path.resolve(__dirname, '../../../dist/src/main.js'));

/** The chaos suite runs these helpers outside jest: no test's failure output to keep lines for. */
const inJest = () => typeof (globalThis as { expect?: unknown }).expect === 'function';

export type Role = 'api' | 'worker' | 'smtp' | 'migrate';

export interface RoleProcess {
  role: Role;
  child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  /** Sends `signal` (SIGKILL by default) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Starts one role with exactly `env` (plus PATH). Its output goes to `logFile` when given, else nowhere; in a jest test
 * file its error lines also reach the output of a test that fails while it runs (keepChildErrors), read through pipes.
 * The chaos suite (no jest) keeps the child writing to the file itself, as a process of its own would.
 */
export function spawnRole(role: Role, env: Record<string, string>, logFile?: string): RoleProcess {
  const piped = inJest();
  const out = piped ? 'pipe' : logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, [main(), role], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', out, out] });
  if (typeof out === 'number') fs.closeSync(out);
  if (piped) {
    keepChildErrors(child, role);
    if (logFile) {
      const file = fs.createWriteStream(logFile, { flags: 'a' });
      child.stdout!.pipe(file, { end: false });
      child.stderr!.pipe(file, { end: false });
      child.once('close', () => file.end());
    }
  }
  running.add(child);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return {
    role,
    child,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Resolves once `http://127.0.0.1:port/path` answers 200 (or rejects after `ms`). */
export async function waitHttp(port: number, urlPath = '/healthz', ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port}${urlPath} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once something accepts TCP connections on the port (or rejects after `ms`). */
export async function waitPort(port: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on port ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
