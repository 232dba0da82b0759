/**
 * The chaos run: a cluster (chaos/cluster.ts), load through HTTP and SMTP (chaos/load.ts), and faults in turn as
 * the load progresses (chaos/faults.ts); then it waits for every acknowledged message to reach the sink and
 * measures what happened (chaos/report.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Cluster, ClusterOptions, startCluster } from './cluster';
import { Fault, flushRedis, freezeMariaDb, killMariaDb, killRoles, restartRedis } from './faults';
import { Load, LoadOptions, sleep } from './load';
import { measure, Receipts, Report } from './report';

export interface Profile {
  name: string;
  cluster: ClusterOptions;
  load: LoadOptions;
  /** Each fault starts once this share of the messages has been acknowledged (and the one before is over). */
  faults: { at: number; fault: () => Fault }[];
  /** Longest wait for the acknowledged messages to arrive after the load. */
  drainMs: number;
  /** Duplicates accepted whatever their share of what was in flight (see report.ts). */
  duplicateFloor: number;
}

export const PROFILES: Record<'full' | 'short', Profile> = {
  full: {
    name: 'full',
    cluster: { leaseSeconds: 20, sweepIntervalSeconds: 2, sweepGraceSeconds: 10, idempotencyLeaseSeconds: 15, deliveryConcurrency: 20 },
    // Faster than two workers deliver with DKIM on this machine, so there is a backlog in flight when roles die.
    load: { messages: 20_000, rate: 300, batchSize: 20, streams: { 'http-batch': 4, 'http-single': 3, smtp: 3 }, giveUpMs: 120_000 },
    faults: [
      { at: 0.06, fault: () => killRoles(['api'], 1000) },
      { at: 0.16, fault: () => killRoles(['worker1'], 1000) },
      { at: 0.26, fault: () => killRoles(['smtp'], 1000) },
      { at: 0.36, fault: () => restartRedis(3000) },
      { at: 0.46, fault: () => flushRedis() },
      { at: 0.56, fault: () => killMariaDb(10_000) },
      { at: 0.72, fault: () => freezeMariaDb(15_000) },
      { at: 0.9, fault: () => killRoles(['worker2'], 1000) },
    ],
    drainMs: 180_000,
    duplicateFloor: 0,
  },
  short: {
    name: 'short',
    cluster: { leaseSeconds: 8, sweepIntervalSeconds: 1, sweepGraceSeconds: 3, idempotencyLeaseSeconds: 5, deliveryConcurrency: 10 },
    load: { messages: 1500, rate: 60, batchSize: 20, streams: { 'http-batch': 2, 'http-single': 2, smtp: 2 }, giveUpMs: 60_000 },
    faults: [
      // Every role at once: one restart to wait for instead of three (a node start takes seconds on a busy machine).
      { at: 0.1, fault: () => killRoles(['api', 'worker1', 'smtp'], 500) },
      { at: 0.3, fault: () => restartRedis(1500) },
      { at: 0.4, fault: () => flushRedis() },
      { at: 0.5, fault: () => killMariaDb(3000) },
      { at: 0.7, fault: () => freezeMariaDb(5000) },
    ],
    drainMs: 60_000,
    // With a few hundred in flight, 0.5 % is one or two messages: fewer than one killed worker may have had on the
    // wire (DELIVERY_CONCURRENCY) plus one per SMTP session for the freeze (a COMMIT the frozen server received is
    // carried out when it thaws, after the client got 451 and sent again).
    duplicateFloor: 12,
  },
};

export async function runChaos(profile: Profile, log: (line: string) => void = () => undefined): Promise<Report> {
  const t0 = Date.now();
  const cluster: Cluster = await startCluster(profile.cluster);
  log(
    `cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (MariaDB :${cluster.mariadb.port}, Redis :${cluster.redis.port}, api :${cluster.apiPort}, smtp :${cluster.smtpPort}, sink :${cluster.sink.port}; logs in ${cluster.dir})`,
  );
  try {
    const load = new Load(profile.load, cluster.apiPort, cluster.smtpPort, cluster.sender);
    const receipts = new Receipts(cluster.sink);
    const faults: Fault[] = [];
    const loadStarted = Date.now();
    const loading = load.run();
    let loadDone = false;
    void loading.then(() => (loadDone = true));
    const faulting = (async () => {
      for (const { at, fault } of profile.faults) {
        while (load.acked.size < at * profile.load.messages && !loadDone) await sleep(50);
        const f = fault();
        faults.push(f);
        log(`fault: ${f.name} (${load.released} messages released, ${load.acked.size} acknowledged, ${cluster.sink.received.length} received)`);
        await f.run(cluster);
        await sleep(1000); // let the system settle before the next one
      }
    })();
    await Promise.all([loading, faulting]);
    const loadEnded = Date.now();
    log(
      `load done in ${((loadEnded - loadStarted) / 1000).toFixed(1)} s: ${load.acked.size} acknowledged, ${load.gaveUp.length} given up; waiting for delivery`,
    );
    const deadline = Date.now() + profile.drainMs;
    const missing = () => {
      receipts.update();
      return [...load.acked.keys()].filter((r) => !receipts.counts.has(r)).length;
    };
    while (missing() > 0 && Date.now() < deadline) await sleep(200);
    await sleep(1000); // late duplicates of the last deliveries
    if (process.env.CHAOS_KEEP) {
      // For a closer look: every attempt and the faults' times (ms since the epoch).
      const repeats = [...receipts.update().repeats].map(([to, times]) => ({ to, door: load.doorOf.get(to), acked: load.acked.get(to), times }));
      fs.writeFileSync(
        path.join(cluster.dir, 'attempts.json'),
        JSON.stringify({ faults: faults.map((f) => ({ name: f.name, began: f.began, ended: f.ended })), repeats, attempts: load.attempts }),
      );
    }
    return measure({
      profile: profile.name,
      load,
      faults,
      sink: receipts.update(),
      loadStarted,
      loadEnded,
      drained: Date.now(),
      messages: profile.load.messages,
      duplicateFloor: profile.duplicateFloor,
    });
  } finally {
    await cluster.close();
  }
}
