/**
 * MariaDB and Redis instances of a test's (or the chaos suite's) own, on free loopback ports with their data in a
 * temp dir, so they can be stopped, killed with -9, frozen with SIGSTOP and restarted without touching the shared
 * servers on 3306 and 6379. Every process is ended by its own pid; a process left behind at exit is killed.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';

export interface PrivateServer {
  readonly name: string;
  readonly port: number;
  /** mysql://root@127.0.0.1:port or redis://127.0.0.1:port */
  readonly url: string;
  readonly dir: string;
  /** The server's pid while it runs, else null. */
  pid(): number | null;
  /** Starts it again on the same port and data (after stop or kill); resolves once it answers. */
  start(): Promise<void>;
  /** SIGTERM, and waits for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL, and waits for the process to exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing (connects still complete in the kernel). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Kills it and removes its data. */
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();

/**
 * Each running server has an entry here, `<this process's pid>-<server's pid>` holding its data dir: a jest worker
 * killed outright (no exit handler runs) leaves its servers running, perhaps frozen, and jest's globalTeardown
 * (tests/helpers/db-pool-sweep.js) of that run or the next kills those whose owner is gone and removes their data.
 */
export const PRIVATE_REGISTRY = path.join(os.tmpdir(), 'postern-test-private');
const entryOf = (c: ChildProcess) => path.join(PRIVATE_REGISTRY, `${process.pid}-${c.pid}`);

process.once('exit', () => {
  for (const c of live) {
    try {
      process.kill(c.pid!, 'SIGCONT');
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    fs.rmSync(entryOf(c), { force: true });
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
}

/** Sends one line to a TCP port and resolves with the first chunk answered (or rejects within ms). */
function ask(port: number, line: string | null, ms = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer'));
    }, ms);
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('data', (d) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(d.toString('latin1'));
    });
    if (line !== null) sock.write(line);
  });
}

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => c.once('exit', () => resolve()));
}

function server(
  name: string,
  port: number,
  url: string,
  dir: string,
  launch: () => ChildProcess,
  ready: () => Promise<boolean>,
  onStopped?: () => void,
): PrivateServer {
  let child: ChildProcess | null = null;
  dirs.add(dir);
  const end = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c) return;
    try {
      process.kill(c.pid!, 'SIGCONT'); // a frozen process cannot act on SIGTERM
    } catch {
      /* gone */
    }
    c.kill(signal);
    await exited(c);
    live.delete(c);
    fs.rmSync(entryOf(c), { force: true });
    child = null;
    onStopped?.();
  };
  return {
    name,
    port,
    url,
    dir,
    pid: () => child?.pid ?? null,
    async start() {
      if (child) throw new Error(`${name} is already running`);
      const c = launch();
      child = c;
      live.add(c);
      fs.mkdirSync(PRIVATE_REGISTRY, { recursive: true });
      fs.writeFileSync(entryOf(c), dir);
      const died = exited(c).then(() => {
        throw new Error(`${name} exited at start (see ${dir})`);
      });
      died.catch(() => undefined);
      await Promise.race([until(name, 30_000, ready), died]);
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    freeze() {
      if (child?.pid) process.kill(child.pid, 'SIGSTOP');
    },
    thaw() {
      if (child?.pid) process.kill(child.pid, 'SIGCONT');
    },
    async destroy() {
      await end('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}

/**
 * A MariaDB server of its own (root, empty password, no binary log, small buffers): `mariadb-install-db` into a
 * temp dir, then `mariadbd` on a free port. About a second to start.
 */
export async function startMariaDb(): Promise<PrivateServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-mariadb-'));
  const port = await freePort();
  // Commits reach the OS at once but are not fsynced (flush_log_at_trx_commit=2, no doublewrite): as durable as the
  // default against a killed or frozen server (the faults tested here), not against a power cut; DDL is 3x faster.
  const common = [
    '--no-defaults',
    `--datadir=${dir}/data`,
    '--user=root',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=2',
    '--innodb-doublewrite=0',
  ];
  await promisify(execFile)('mariadb-install-db', [...common, '--auth-root-authentication-method=normal', '--skip-test-db'], { timeout: 60_000 });
  const launch = () =>
    spawn(
      'mariadbd',
      [
        ...common,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${dir}/mysqld.sock`,
        `--pid-file=${dir}/mysqld.pid`,
        `--log-error=${dir}/error.log`,
        '--skip-name-resolve',
        '--skip-log-bin',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--max-connections=500',
      ],
      { stdio: 'ignore' },
    );
  // Ready when a client gets the server's handshake packet (its protocol version byte, 10).
  const ready = async () => (await ask(port, null)).charCodeAt(4) === 10;
  const s = server('MariaDB', port, `mysql://root@127.0.0.1:${port}`, dir, launch, ready);
  await s.start();
  return s;
}

/** A Redis server of its own on a free port, saving to its temp dir (so a SIGTERM restart keeps the data, a kill -9 may not). */
export async function startRedis(): Promise<PrivateServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-redis-'));
  const port = await freePort();
  const launch = () =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--logfile',
        path.join(dir, 'redis.log'),
      ],
      {
        stdio: 'ignore',
      },
    );
  const ready = async () => (await ask(port, 'PING\r\n')).startsWith('+PONG');
  const s = server('Redis', port, `redis://127.0.0.1:${port}`, dir, launch, ready);
  await s.start();
  return s;
}
