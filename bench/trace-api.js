// Timeline of the single-send route, for finding where its tail comes from. Preloaded into one api only, so the
// product carries none of it: BENCH_NODE_FLAGS_B="-r <tree>/bench/trace-api.js" npm run bench:single-ab -- ...
// Records each request (arrival at node's 'request' event, the accept group's submit and answer, the reply's
// 'finish'), each group flush (coalescer name, size, start, end), every GC pause and every event-loop stall of 3 ms
// or more, and writes them at exit to $TRACE_DIR/trace-<pid>.json (default /tmp) for bench/trace-report.js.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance, PerformanceObserver } = require('node:perf_hooks');

const now = () => performance.timeOrigin + performance.now();
const reqs = new Map(); // requestId -> record
const done = [];
const flushes = [];
const gcs = [];
const stalls = [];

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, res) {
  if (event === 'request') {
    const r = { t0: now() };
    res.once('finish', () => {
      r.t9 = now();
      r.status = res.statusCode;
      const id = res.locals && res.locals.requestId;
      const acc = id && reqs.get(id);
      if (acc) {
        reqs.delete(id);
        Object.assign(r, acc);
      }
      done.push(r);
    });
  }
  return emit.apply(this, arguments);
};

// The api's own Coalescer class, from the dist/ the api runs (process.argv[1] is dist/src/main.js).
const { Coalescer } = require(path.join(path.dirname(process.argv[1]), 'coalesce.js'));
const submit = Coalescer.prototype.submit;
Coalescer.prototype.submit = function (item) {
  const p = submit.call(this, item);
  const id = item && item.services && item.services.requestId;
  if (!id) return p;
  const rec = { accept: item.now, submit: now() };
  reqs.set(id, rec);
  return p.then((v) => ((rec.answered = now()), v));
};
const run = Coalescer.prototype.run;
Coalescer.prototype.run = function (group) {
  const f = { name: this.opts.name, n: group.length, start: now(), inFlight: this.inFlight - 1, waiting: this.waiting.length };
  flushes.push(f);
  return run.call(this, group).finally(() => (f.end = now()));
};

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration, kind: e.detail ? e.detail.kind : e.kind });
}).observe({ entryTypes: ['gc'] });

let last = now();
setInterval(() => {
  const t = now();
  if (t - last > 4) stalls.push({ at: last, ms: t - last - 1 });
  last = t;
}, 1).unref();

process.on('exit', () => {
  const file = path.join(process.env.TRACE_DIR || '/tmp', `trace-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify({ done, flushes, gcs, stalls }));
});
