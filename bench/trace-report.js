// Reads a trace written by bench/trace-api.js and says where the slowest 1 % of single sends spent their time:
// node bench/trace-report.js /tmp/trace-<pid>.json [skipSeconds]
'use strict';
const fs = require('node:fs');

const [file, skip = '3'] = process.argv.slice(2);
const t = JSON.parse(fs.readFileSync(file, 'utf8'));
const first = Math.min(...t.done.map((r) => r.t0));
const from = first + Number(skip) * 1000; // past the warm-up round
const done = t.done.filter((r) => r.t0 >= from && r.answered && r.status < 300);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const phases = {
  'arrival → accept (body, auth, validation)': (r) => r.accept - r.t0,
  'accept → group submit (suppression lookup, prepare)': (r) => r.submit - r.accept,
  'submit → group committed': (r) => r.answered - r.submit,
  'committed → reply finished': (r) => r.t9 - r.answered,
  total: (r) => r.t9 - r.t0,
};
const total = (r) => r.t9 - r.t0;
const sorted = [...done].sort((a, b) => total(b) - total(a));
const slow = sorted.slice(0, Math.max(1, Math.floor(done.length / 100)));
console.log(
  `${done.length} sends after the first ${skip} s; server-side p50 ${f1(pct(done.map(total), 50))} p90 ${f1(pct(done.map(total), 90))} p99 ${f1(pct(done.map(total), 99))} max ${f1(total(sorted[0]))} ms`,
);
console.log('phase: mean all | p50 all | mean of slowest 1 % | p99 of phase');
for (const [name, f] of Object.entries(phases))
  console.log(`  ${name}: ${f1(mean(done.map(f)))} | ${f1(pct(done.map(f), 50))} | ${f1(mean(slow.map(f)))} | ${f1(pct(done.map(f), 99))}`);

const inWindow = (xs, a, b, s, e) => xs.filter((x) => s(x) < b && e(x) > a);
for (const name of [...new Set(t.flushes.map((f) => f.name))]) {
  const fs_ = t.flushes.filter((f) => f.name === name && f.start >= from && f.end);
  const d = fs_.map((f) => f.end - f.start);
  console.log(
    `flushes ${name}: ${fs_.length}, size mean ${f1(mean(fs_.map((f) => f.n)))} max ${Math.max(...fs_.map((f) => f.n))}, ms p50 ${f1(pct(d, 50))} p90 ${f1(pct(d, 90))} p99 ${f1(pct(d, 99))} max ${f1(Math.max(...d))}; started with the other in flight ${fs_.filter((f) => f.inFlight > 0).length}`,
  );
}
const gcs = t.gcs.filter((g) => g.start >= from);
const kinds = {};
for (const g of gcs) (kinds[g.kind] ??= []).push(g.ms);
const span = (Math.max(...done.map((r) => r.t9)) - from) / 1000;
console.log(`over ${f1(span)} s:`);
for (const [k, ms] of Object.entries(kinds))
  console.log(
    `  gc kind ${k}: ${ms.length}, total ${f1(ms.reduce((a, b) => a + b, 0))} ms, p50 ${f1(pct(ms, 50))} p99 ${f1(pct(ms, 99))} max ${f1(Math.max(...ms))}`,
  );
const st = t.stalls.filter((s) => s.at >= from);
console.log(
  `  event-loop stalls >= 3 ms: ${st.length}, total ${f1(st.reduce((a, s) => a + s.ms, 0))} ms, p50 ${f1(
    pct(
      st.map((s) => s.ms),
      50,
    ),
  )} p99 ${f1(
    pct(
      st.map((s) => s.ms),
      99,
    ),
  )} max ${f1(Math.max(...st.map((s) => s.ms)))}`,
);

// Milliseconds of the pauses in `list` (each with a start and `ms`) that overlap a send's life.
const overlapMs = (list, startOf) => (r) => inWindow(list, r.t0, r.t9, startOf, (x) => startOf(x) + x.ms).reduce((a, x) => a + x.ms, 0);

// What the slowest 1 % lived through, against all sends.
const exposure = (rs) => ({
  gcMs: mean(rs.map(overlapMs(gcs, (g) => g.start))),
  stallMs: mean(rs.map(overlapMs(st, (s) => s.at))),
  acceptFlushes: mean(
    rs.map(
      (r) =>
        inWindow(
          t.flushes,
          r.submit,
          r.answered,
          (f) => f.start,
          (f) => f.end ?? Infinity,
        ).filter((f) => f.name === 'accept').length,
    ),
  ),
  ownFlushMs: mean(
    rs
      .map((r) => {
        const own = t.flushes.filter((f) => f.name === 'accept' && f.start >= r.submit && f.end && Math.abs(f.end - r.answered) < 1);
        return own.length ? own[0].end - own[0].start : NaN;
      })
      .filter(Number.isFinite),
  ),
  waitBeforeOwnFlush: mean(
    rs
      .map((r) => {
        const own = t.flushes.filter((f) => f.name === 'accept' && f.start >= r.submit && f.end && Math.abs(f.end - r.answered) < 1);
        return own.length ? own[0].start - r.submit : NaN;
      })
      .filter(Number.isFinite),
  ),
});
const all = exposure(done);
const sl = exposure(slow);
console.log('exposure (all | slowest 1 %):');
for (const k of Object.keys(all)) console.log(`  ${k}: ${f1(all[k])} | ${f1(sl[k])}`);
