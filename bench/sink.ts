/**
 * The SMTP sink bench:send's end-to-end passes deliver to, standing in for the recipients' MX servers, which in a
 * real deployment are not on the gateway's cores, so it should take as little of the two cores as it can. Three kinds
 * (BENCH_SINK):
 * - `count` (the default): bench/count-sink.js, its own process, answering a relay client's commands and counting
 *   each message's end marker, nothing more.
 * - `smtp-sink`: Postfix's C sink, the one bench:relay measures Postern and Postfix against (needs Postfix).
 * - `node`: an smtp-server in the bench's own process (what the bench used before): it parses every message in
 *   JavaScript and took 190–270 µs of CPU per message, 12–15 % of the two cores at the end-to-end rates.
 * Each sink reports how many messages it has taken and, where it runs in its own process, its PID (so its CPU is
 * counted apart from the bench's).
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface Sink {
  kind: 'count' | 'smtp-sink' | 'node';
  port: number;
  /** The sink's own process, when it has one. */
  pid: number | null;
  received(): Promise<number>;
  stop(): Promise<void>;
}

export function sinkKind(): Sink['kind'] {
  const wanted = process.env.BENCH_SINK ?? 'count';
  if (wanted === 'count' || wanted === 'node' || wanted === 'smtp-sink') return wanted;
  throw new Error(`BENCH_SINK must be count, smtp-sink or node, not ${wanted}`);
}

export async function startSink(kind: Sink['kind'], port: number): Promise<Sink> {
  if (kind === 'count') return startCountSink(port);
  return kind === 'smtp-sink' ? startPostfixSink(port) : startNodeSink(port);
}

async function startCountSink(port: number): Promise<Sink> {
  const child = fork(path.join(__dirname, '../../bench/count-sink.js'), [String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the counting sink exited (${code}) before listening on ${port}`)));
  });
  const received = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m: { received: number }) => resolve(m.received));
      child.send('count');
    });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.disconnect();
    await exited;
  };
  return { kind: 'count', port, pid: child.pid ?? null, received, stop };
}

async function startNodeSink(port: number): Promise<Sink> {
  let received = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, _s, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        received += 1;
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { kind: 'node', port, pid: null, received: async () => received, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * smtp-sink with its running counter (-c): it writes the counter, carriage-return separated, only to a terminal
 * promptly, so it runs under script(1), whose output goes to a file. The shell in between writes its PID and then
 * becomes smtp-sink (exec): the sink is stopped by that PID and nothing else (as bench/relay.sh does).
 */
async function startPostfixSink(port: number): Promise<Sink> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-sink-'));
  const out = path.join(dir, 'sink.out');
  const pidFile = path.join(dir, 'sink.pid');
  const fd = fs.openSync(out, 'w');
  const script: ChildProcess = spawn('script', ['-qfec', `sh -c 'echo $$ >${pidFile}; exec smtp-sink -c -u postfix 127.0.0.1:${port} 1000'`, '/dev/null'], {
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  let pid = 0;
  for (let i = 0; i < 100 && !pid; i++) {
    await new Promise((r) => setTimeout(r, 20));
    if (fs.existsSync(pidFile)) pid = Number(fs.readFileSync(pidFile, 'utf8').trim()) || 0;
  }
  if (!pid) {
    script.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error('smtp-sink did not start (is Postfix installed? BENCH_SINK=node uses the in-process sink)');
  }
  await listening(port);
  // Only the file's tail is read: the bench's polling must not cost the machine it measures.
  const tail = Buffer.alloc(256);
  const received = async () => {
    const f = fs.openSync(out, 'r');
    try {
      const size = fs.fstatSync(f).size;
      const n = fs.readSync(f, tail, 0, tail.length, Math.max(0, size - tail.length));
      const nums = tail.toString('latin1', 0, n).match(/\d+/g);
      return nums ? Number(nums[nums.length - 1]) : 0;
    } finally {
      fs.closeSync(f);
    }
  };
  const stop = async () => {
    try {
      process.kill(pid);
    } catch {
      // already gone
    }
    if (script.exitCode === null) await new Promise((r) => script.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { kind: 'smtp-sink', port, pid, received, stop };
}

/** Resolves once something accepts connections on the port (smtp-sink binds after it has started). */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end('QUIT\r\n');
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`smtp-sink is not listening on 127.0.0.1:${port}`);
}
