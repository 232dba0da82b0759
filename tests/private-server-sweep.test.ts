/**
 * jest's globalTeardown ends the private servers (tests/helpers/private-servers.ts) of a jest worker that was
 * killed outright, frozen ones included, and removes their data; it leaves the servers of live workers, and never
 * kills a process that only has an orphaned entry's pid.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PRIVATE_REGISTRY, PrivateServer, startRedis } from './helpers/private-servers';
import { waitFor } from './helpers/sink';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the plain-JS globalTeardown module
const { sweepPrivateServers } = require('./helpers/db-pool-sweep.js') as { sweepPrivateServers: () => void };

/** Whether a process runs: it exists and is not a zombie (a killed child of ours stays one until node reaps it). */
const running = (pid: number) => {
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A pid no process has any more: a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

let redis: PrivateServer;
afterAll(() => redis?.destroy());

it("kills a dead worker's frozen server and removes its data, and leaves a live worker's", async () => {
  redis = await startRedis();
  const pid = redis.pid()!;
  const own = path.join(PRIVATE_REGISTRY, `${process.pid}-${pid}`);
  expect(fs.readFileSync(own, 'utf8')).toBe(redis.dir);

  // Owned by another live worker (the sweep takes its own process for one that is ending, as in a run in band).
  const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  const held = path.join(PRIVATE_REGISTRY, `${owner.pid}-${pid}`);
  try {
    fs.renameSync(own, held);
    sweepPrivateServers();
    await new Promise((r) => setTimeout(r, 100));
    expect(running(pid)).toBe(true);
    expect(fs.existsSync(held)).toBe(true);
  } finally {
    owner.kill('SIGKILL');
  }

  // As a killed worker leaves it: frozen by a test, its owner gone.
  redis.freeze();
  const orphan = path.join(PRIVATE_REGISTRY, `${deadPid()}-${pid}`);
  fs.renameSync(held, orphan);
  sweepPrivateServers();
  await waitFor(() => !running(pid), 5000, 'the server to end');
  expect(fs.existsSync(redis.dir)).toBe(false);
  expect(fs.existsSync(orphan)).toBe(false);
});

it('never kills a process whose pid an orphaned entry names unless it works in that data dir', async () => {
  const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-redis-'));
    const entry = path.join(PRIVATE_REGISTRY, `${deadPid()}-${bystander.pid}`);
    fs.mkdirSync(PRIVATE_REGISTRY, { recursive: true });
    fs.writeFileSync(entry, dir);
    sweepPrivateServers();
    // A killed child stays a zombie until node reaps it, so its ChildProcess says whether it ended.
    await new Promise((r) => setTimeout(r, 300));
    expect({ exitCode: bystander.exitCode, signalCode: bystander.signalCode }).toEqual({ exitCode: null, signalCode: null });
    expect(fs.existsSync(entry)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  } finally {
    bystander.kill('SIGKILL');
  }
});
