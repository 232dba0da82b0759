import { Redis } from 'ioredis';
import type { Cluster, RoleName } from './cluster';
import { sleep } from './load';

/** One fault: what it does, and when it began and was over (the dependency back, the role listening again). */
export interface Fault {
  name: string;
  /** A kill of something holding work in flight (duplicates are measured against these). */
  kill: boolean;
  /** Starts the fault and resolves once it is over; records its times. */
  run(c: Cluster): Promise<void>;
  began?: number;
  ended?: number;
}

function fault(name: string, kill: boolean, body: (c: Cluster) => Promise<void>): Fault {
  const f: Fault = {
    name,
    kill,
    async run(c) {
      f.began = Date.now();
      await body(c);
      f.ended = Date.now();
    },
  };
  return f;
}

/** kill -9 of one or more roles at once, started again after `downMs`; over once they listen again. */
export const killRoles = (roles: RoleName[], downMs: number) =>
  fault(`kill -9 ${roles.join(' + ')}`, true, async (c) => {
    await Promise.all(roles.map((r) => c.kill(r)));
    await sleep(downMs);
    await Promise.all(roles.map((r) => c.start(r)));
  });

/** Redis stopped and started again (no persistence: its jobs are gone, as after a crash). */
export const restartRedis = (downMs: number) =>
  fault('Redis restart', false, async (c) => {
    await c.redis.stop();
    await sleep(downMs);
    await c.redis.start();
  });

export const flushRedis = () =>
  fault('Redis FLUSHALL', false, async (c) => {
    const r = new Redis(c.redis.url, { maxRetriesPerRequest: 1 });
    await r.flushall();
    await r.quit();
  });

/** kill -9 of MariaDB, started again after `downMs` (InnoDB recovers on start). */
export const killMariaDb = (downMs: number) =>
  fault('kill -9 MariaDB', true, async (c) => {
    await c.mariadb.kill();
    await sleep(downMs);
    await c.mariadb.start();
  });

/** SIGSTOP of MariaDB for `ms`, then SIGCONT. */
export const freezeMariaDb = (ms: number) =>
  fault(`MariaDB frozen ${Math.round(ms / 1000)} s`, false, async (c) => {
    c.mariadb.freeze();
    await sleep(ms);
    c.mariadb.thaw();
  });
