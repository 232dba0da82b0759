/** What a chaos run measured, and whether it met the targets of issue 13. */
import type { Fault } from './faults';
import type { Attempt, Load } from './load';
import type { Sink } from '../tests/helpers/sink';

/** Requests that start this soon after a fault is over still count as "during" it (their answers reflect it). */
const AFTERMATH_MS = 3000;
export const TARGETS = { lost: 0, duplicateShareOfInFlight: 0.005, slowestAnswerMs: 5000 };

export interface FaultReport {
  fault: string;
  seconds: number;
  requests: number;
  /** HTTP 5xx answers by status. */
  http5xx: Record<string, number>;
  smtp5xx: number;
  /** Attempts that got no answer (connection refused or reset, client timeout), by error. */
  noAnswer: Record<string, number>;
  slowestMs: number;
  /** Which door gave the slowest answer, and what it was. */
  slowestWas: string;
  /** From the fault's end to the first acknowledged send, and to the first message the sink received. */
  acceptingAgainMs: number | null;
  deliveringAgainMs: number | null;
  /** Acknowledged but not yet delivered when the fault began. */
  inFlight: number;
}

export interface Report {
  profile: string;
  messages: number;
  acknowledged: number;
  gaveUp: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Duplicates by the door their message came through. */
  duplicatedByDoor: Record<string, number>;
  /** Delivered without ever being acknowledged (a 503'd or cut-off request whose commit landed anyway). */
  deliveredUnacknowledged: number;
  inFlightAtKills: number;
  duplicateFloor: number;
  slowestMs: number;
  http5xx: Record<string, number>;
  smtp5xx: number;
  loadSeconds: number;
  drainSeconds: number;
  faults: FaultReport[];
  targets: { lost: boolean; duplicates: boolean; slowest: boolean; only503: boolean; met: boolean };
}

/** What the sink has received, per recipient and in time order; `update` takes in what arrived since the last call. */
export class Receipts {
  /** Receipts per recipient (lowercase). */
  readonly counts = new Map<string, number>();
  /** Time of each receipt, in order. */
  readonly times: number[] = [];
  /** Every receipt time of each recipient received more than once. */
  readonly repeats = new Map<string, number[]>();
  private readonly first = new Map<string, number>();
  private seen = 0;
  constructor(private readonly sink: Sink) {}

  update(): this {
    for (; this.seen < this.sink.received.length; this.seen++) {
      const r = this.sink.received[this.seen];
      for (const address of r.to) {
        const to = address.toLowerCase();
        this.counts.set(to, (this.counts.get(to) ?? 0) + 1);
        this.times.push(r.at);
        const first = this.first.get(to);
        if (first === undefined) this.first.set(to, r.at);
        else this.repeats.set(to, [...(this.repeats.get(to) ?? [first]), r.at]);
      }
    }
    return this;
  }
}

function tally(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of list) out[k] = (out[k] ?? 0) + 1;
  return out;
}

const http5xx = (a: Attempt[]) => tally(a.filter((x) => x.door !== 'smtp' && x.status >= 500).map((x) => String(x.status)));
const smtp5xx = (a: Attempt[]) => a.filter((x) => x.door === 'smtp' && x.status >= 500).length;
const slowest = (a: Attempt[]) => a.reduce((m, x) => Math.max(m, x.ms), 0);
function slowestWas(a: Attempt[]): string {
  const x = a.reduce<Attempt | null>((m, y) => (!m || y.ms > m.ms ? y : m), null);
  return x ? `${x.door} ${x.status || x.error}` : '';
}

export function measure(r: {
  profile: string;
  messages: number;
  load: Load;
  faults: Fault[];
  sink: Receipts;
  loadStarted: number;
  loadEnded: number;
  drained: number;
  /** Duplicates always allowed, whatever the share (a short run has too little in flight for 0.5 % to mean much). */
  duplicateFloor: number;
}): Report {
  const { load, sink } = r;
  const acked = [...load.acked.keys()];
  const ackTimes = [...load.acked.values()].sort((a, b) => a - b);
  const countUntil = (sorted: number[], t: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const oursReceived = [...sink.counts.entries()].filter(([to]) => /^m\d+@sink\.test$/.test(to));
  const ran = r.faults.filter((f) => f.began !== undefined && f.ended !== undefined);
  const faults: FaultReport[] = ran.map((f, i) => {
    // Until a little after its end, but never into the next fault.
    const until = Math.min(f.ended! + AFTERMATH_MS, ran[i + 1]?.began ?? Infinity);
    // Attributed by when the answer came (a request cut off by the fault answers during it).
    const during = load.attempts.filter((a) => a.start + a.ms >= f.began! && a.start + a.ms < until);
    const acks = load.attempts.filter((a) => (a.status === 200 || a.status === 250) && a.start + a.ms >= f.ended!).map((a) => a.start + a.ms);
    const firstReceipt = sink.times.find((t) => t >= f.ended!);
    return {
      fault: f.name,
      seconds: Math.round((f.ended! - f.began!) / 100) / 10,
      requests: during.length,
      http5xx: http5xx(during),
      smtp5xx: smtp5xx(during),
      noAnswer: tally(during.filter((a) => a.status === 0).map((a) => a.error ?? 'error')),
      slowestMs: slowest(during),
      slowestWas: slowestWas(during),
      acceptingAgainMs: acks.length ? Math.min(...acks) - f.ended! : null,
      deliveringAgainMs: firstReceipt === undefined ? null : firstReceipt - f.ended!,
      inFlight: Math.max(0, countUntil(ackTimes, f.began!) - countUntil(sink.times, f.began!)),
    };
  });
  const lost = acked.filter((to) => !sink.counts.has(to)).length;
  const duplicated = oursReceived.reduce((n, [, c]) => n + (c - 1), 0);
  const duplicatedByDoor: Record<string, number> = {};
  for (const [to, c] of oursReceived) if (c > 1) duplicatedByDoor[load.doorOf.get(to) ?? '?'] = (duplicatedByDoor[load.doorOf.get(to) ?? '?'] ?? 0) + c - 1;
  const inFlightAtKills = faults.filter((_, i) => ran[i].kill).reduce((n, f) => n + f.inFlight, 0);
  const all5xx = http5xx(load.attempts);
  const targets = {
    lost: lost === TARGETS.lost,
    duplicates: duplicated <= Math.max(TARGETS.duplicateShareOfInFlight * inFlightAtKills, r.duplicateFloor),
    slowest: slowest(load.attempts) <= TARGETS.slowestAnswerMs,
    only503: Object.keys(all5xx).every((s) => s === '503') && smtp5xx(load.attempts) === 0,
    met: false,
  };
  targets.met = targets.lost && targets.duplicates && targets.slowest && targets.only503;
  return {
    profile: r.profile,
    messages: r.messages,
    acknowledged: acked.length,
    gaveUp: load.gaveUp.length,
    delivered: oursReceived.length,
    lost,
    duplicated,
    duplicatedByDoor,
    duplicateFloor: r.duplicateFloor,
    deliveredUnacknowledged: oursReceived.filter(([to]) => !load.acked.has(to)).length,
    inFlightAtKills,
    slowestMs: slowest(load.attempts),
    http5xx: all5xx,
    smtp5xx: smtp5xx(load.attempts),
    loadSeconds: Math.round((r.loadEnded - r.loadStarted) / 100) / 10,
    drainSeconds: Math.round((r.drained - r.loadEnded) / 100) / 10,
    faults,
    targets,
  };
}

const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
const kv = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ') || '0';

/** The human-readable table, then the `BENCH {json}` line. */
export function format(rep: Report): string {
  const lines = [
    `chaos (${rep.profile}): ${rep.messages} messages, ${rep.acknowledged} acknowledged, ${rep.gaveUp} given up, ${rep.delivered} delivered; load ${rep.loadSeconds} s, delivery tail ${rep.drainSeconds} s`,
    '',
    '| fault | lasted | requests | HTTP 5xx | SMTP 5xx | no answer | slowest answer | accepting again | delivering again | in flight |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rep.faults.map(
      (f) =>
        `| ${f.fault} | ${f.seconds} s | ${f.requests} | ${kv(f.http5xx)} | ${f.smtp5xx} | ${kv(f.noAnswer)} | ${s(f.slowestMs)} (${f.slowestWas}) | ${s(f.acceptingAgainMs)} | ${s(f.deliveringAgainMs)} | ${f.inFlight} |`,
    ),
    '',
    `lost (acknowledged, never delivered): ${rep.lost}   [target 0: ${rep.targets.lost ? 'met' : 'MISSED'}]`,
    `duplicated: ${rep.duplicated} (${kv(rep.duplicatedByDoor)}) of ${rep.inFlightAtKills} in flight at the kills = ${((100 * rep.duplicated) / Math.max(1, rep.inFlightAtKills)).toFixed(2)} %   [target ≤ 0.5 %${rep.duplicateFloor ? ` or ≤ ${rep.duplicateFloor} in this short run` : ''}: ${rep.targets.duplicates ? 'met' : 'MISSED'}]`,
    `slowest answer: ${s(rep.slowestMs)}   [target ≤ 5 s: ${rep.targets.slowest ? 'met' : 'MISSED'}]`,
    `5xx: HTTP ${kv(rep.http5xx)}, SMTP ${rep.smtp5xx}   [target: only the documented 503: ${rep.targets.only503 ? 'met' : 'MISSED'}]`,
    `delivered though never acknowledged: ${rep.deliveredUnacknowledged}`,
    `targets ${rep.targets.met ? 'met' : 'MISSED'}`,
    `BENCH ${JSON.stringify(rep)}`,
  ];
  return lines.join('\n');
}
