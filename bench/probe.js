// Measurements the benches take beside their own figures, in a process of their own so the bench's event loop
// does not disturb them (plain JS so bench/relay.sh can run it without a build):
//   node bench/probe.js rsa [ms]       RSA-2048 PKCS#1 signatures per second on one thread (crypto.sign with a
//                                      parsed key, as DKIM signs), printed as a number: this machine's ceiling now.
//   node bench/probe.js rss <pid>...   samples each process's resident set and the 1-minute load every 100 ms
//                                      until SIGTERM or SIGINT, then prints {"rss_mb":{"<pid>":peak},"rss_p50_mb":{"<pid>":median},
//                                      "rss_samples_mb":{"<pid>":[every sample]},"cpu_ms":{"<pid>":{"user":ms,"sys":ms}},
//                                      "load1":mean,"samples":n}; cpu_ms is the CPU each process used between start
//                                      and stop (/proc/<pid>/stat), null for one that could not be read at both.
//                                      Reads /proc only: no forks while the bench runs.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');

const [mode, ...args] = process.argv.slice(2);

function rsa(ms) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = Buffer.alloc(512, 7);
  for (let i = 0; i < 20; i++) crypto.sign('sha256', data, privateKey); // warm-up
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1000000n;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 10; i++) crypto.sign('sha256', data, privateKey);
    n += 10;
    now = process.hrtime.bigint();
  }
  process.stdout.write(`${Math.round(n / (Number(now - t0) / 1e9))}\n`);
}

/** User and system CPU time a process has used so far, in ms (clock ticks of 10 ms), or null. */
function cpuMs(pid) {
  try {
    // /proc/<pid>/stat: utime and stime are fields 14 and 15, counted after the command name's closing parenthesis.
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1].split(' ');
    return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
  } catch {
    return null;
  }
}

function rss(pids) {
  const cpuStart = Object.fromEntries(pids.map((p) => [p, cpuMs(p)]));
  const seen = Object.fromEntries(pids.map((p) => [p, []]));
  const loads = [];
  const parent = process.ppid;
  const sample = () => {
    if (process.ppid !== parent) return finish(); // the bench died without stopping us: never outlive it
    loads.push(os.loadavg()[0]);
    for (const p of pids) {
      try {
        const kb = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'latin1'))[1]);
        seen[p].push(Math.round(kb / 1024));
      } catch {
        /* gone or not started: what it had so far stands */
      }
    }
  };
  let timer;
  const finish = () => {
    clearInterval(timer);
    const load1 = loads.reduce((a, b) => a + b, 0) / loads.length;
    const each = (f) => Object.fromEntries(pids.map((p) => [p, seen[p].length ? f(seen[p]) : null]));
    const peak = each((v) => Math.max(...v));
    const p50 = each((v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]);
    const cpu = Object.fromEntries(
      pids.map((p) => {
        const [a, b] = [cpuStart[p], cpuMs(p)];
        return [p, a && b ? { user: b.user - a.user, sys: b.sys - a.sys } : null];
      }),
    );
    const line = { rss_mb: peak, rss_p50_mb: p50, rss_samples_mb: seen, cpu_ms: cpu, load1: Math.round(load1 * 100) / 100, samples: loads.length };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  sample();
  timer = setInterval(sample, 100);
}

if (mode === 'rsa') rsa(Number(args[0] ?? 2000));
else if (mode === 'rss' && args.length) rss(args.map(Number).filter((p) => p > 0));
else {
  process.stderr.write('usage: node bench/probe.js rsa [ms] | rss <pid>...\n');
  process.exit(2);
}
