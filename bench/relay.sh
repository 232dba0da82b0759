#!/usr/bin/env bash
# npm run bench:relay — Postern's SMTP front against a throwaway Postfix, both relaying to Postfix's smtp-sink,
# loaded by Postfix's smtp-source in the same run. Prints end-to-end rates (time until the sink holds every
# message) and the ratio. Loopback only. Needs root for the Postfix instance (it installs Debian's postfix if
# smtp-source is missing). Knobs: BENCH_MESSAGES (20000), BENCH_SESSIONS (20), BENCH_WORKERS (1: on two cores
# shared with MariaDB, Redis and the load tools, a second worker process measured slower), BENCH_QUICK=1 (only
# -d, no DKIM-on pass), BENCH_SKIP_POSTFIX=1 (Postern alone, while tuning), POSTERN_COALESCE_STATS=1 with
# BENCH_SHOW_LOG=1 (group sizes per process), BENCH_NODE_ARGS (node flags for the roles), BENCH_PROFILE=<dir> (a CPU
# profile per role and pass: <dir>/smtp-1.cpuprofile, worker-2.cpuprofile, ...), BENCH_CONNECTIONS=new (only the
# pass with a new connection per message), SMTP_RELAY_MAX_CONNECTIONS (the worker's sessions to the sink; empty = the
# setting's default), BENCH_FLOOR=0 (skip the library's floor: smtp-server alone, bench/smtp-floor.js). The worker runs with DELIVERY_CONCURRENCY=50.
# Ends with one line `BENCH {json}` (issue 15's keys: relay_ratio_pooled, relay_ratio_new_conn, rsa_signs_s,
# worker_rss_mb, load1; the send-path keys are null here) plus this run's rates. The Postfix instance lives
# entirely in a private directory passed with -c (nothing is written to the system's /etc/postfix), the Postern
# roles in their own database and Redis key prefix; all of it, sinks included, is stopped by PID and removed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_MESSAGES:-20000}
SESSIONS=${BENCH_SESSIONS:-20}
WORKERS=${BENCH_WORKERS:-1}
MYSQL=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}

if ! command -v smtp-source >/dev/null; then
  echo "installing Debian's postfix (for smtp-source and smtp-sink)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
[ -f "$ROOT/dist/src/main.js" ] || (cd "$ROOT" && npm run build >/dev/null)

W=$(mktemp -d /tmp/postern-relay-bench.XXXXXX)
ID=$(basename "$W" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
DB="postern_relaybench_$ID"
PIDS=()
cleanup() {
  local rc=$?
  [ -z "${BENCH_SHOW_LOG:-}" ] || grep -h "^coalesce" "$W/postern.log" >&2 || true
  [ "$rc" = 0 ] || { echo "relay bench failed ($rc); Postern log:" >&2; tail -20 "$W/postern.log" >&2 2>/dev/null || true; }
  [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
  [ -z "$SINK_PID" ] || stop_sink
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  postfix -c "$W/pf/etc" stop >/dev/null 2>&1 || true
  mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$DB\`" 2>/dev/null || true
  redis_cleanup
  rm -rf "$W"
}
# Removes this run's Redis keys (BullMQ's queues and the gateway's own) by their prefix, in one small process.
redis_cleanup() {
  (cd "$ROOT" && node -e "
const Redis = require('ioredis');
const r = new Redis(process.argv[1], { maxRetriesPerRequest: 1 });
(async () => {
  let cursor = '0', n = 0;
  do { const [c, keys] = await r.scan(cursor, 'MATCH', process.argv[2] + ':*', 'COUNT', 1000); cursor = c; if (keys.length) n += await r.unlink(...keys); } while (cursor !== '0');
  console.error('removed ' + n + ' Redis keys under ' + process.argv[2] + ':');
  r.disconnect();
})().catch((e) => { console.error('Redis cleanup failed: ' + e.message); process.exit(1); });
" "$REDIS" "postern-relaybench:$ID") || true
}
SAMPLER=""
SINK_PID=
trap cleanup EXIT

# A free port that is none of the ports this run has already picked but may not be listening on yet (the kernel
# hands a just-closed port out again: the api and the SMTP front once got the same one, and the front died).
PICKED=()
free_port() {
  local port
  port=$(node -e "
const taken = new Set(process.argv.slice(1).map(Number));
const net = require('net');
(function pick() { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => (taken.has(p) ? pick() : console.log(p))); }); })();
" "${PICKED[@]}")
  PICKED+=("$port")
  echo "$port"
}

# A fresh smtp-sink per measurement; its -c counter (written with carriage returns) says how much arrived.
start_sink() {
  free_port >"$W/port"; SINK_PORT=$(cat "$W/port")
  : >"$W/sink.out"
  rm -f "$W/sink.pid"
  # smtp-sink writes its counter only to a terminal promptly: give it one with script(1). The shell in between
  # writes its own PID and then becomes smtp-sink (exec), so the sink is stopped by that PID and nothing else.
  script -qfec "sh -c 'echo \$\$ >$W/sink.pid; exec smtp-sink -c -u postfix 127.0.0.1:$SINK_PORT 1000'" /dev/null >"$W/sink.out" 2>&1 &
  SINK_PID=$!
  for _ in $(seq 50); do [ -s "$W/sink.pid" ] && break; sleep 0.05; done
  echo "smtp-sink $(cat "$W/sink.pid")" >>"$W/roles"
  sleep 0.3
}
stop_sink() {
  [ -s "$W/sink.pid" ] && kill "$(cat "$W/sink.pid")" 2>/dev/null || true
  kill "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=""
}

# Sends N messages with smtp-source to host:port and waits until the sink holds them all; prints msg/s.
# The wait is one small process reading the counter's tail (bench/wait-sink.js), started before the load so
# its start-up is not timed; a shell loop forking tr/grep every 50 ms cost this VM most of a core.
# Every pass also samples the machine load and the given processes' RSS (bench/probe.js rss; /proc reads, no forks)
# into $W/samples.jsonl.
measure() {
  local target=$1 from=$2 keep=$3 pids=$4
  local start end sent
  node "$ROOT/bench/wait-sink.js" "$W/sink.out" "$N" "${BENCH_TIMEOUT:-600}" >"$W/sink.end" &
  local waiter=$!
  # shellcheck disable=SC2086
  node "$ROOT/bench/probe.js" rss $pids >>"$W/samples.jsonl" &
  SAMPLER=$!
  sleep 0.2
  start=$(date +%s.%N)
  # A failed load (refused connections, a dead front) ends the run instead of waiting BENCH_TIMEOUT for the sink.
  smtp-source $keep -s "$SESSIONS" -l 1024 -m "$N" -f "$from" -t "rcpt@sink.test" "$target" >"$W/source.out" 2>&1 ||
    { echo "smtp-source failed on $target:" >&2; tail -5 "$W/source.out" >&2; kill "$waiter" "$SAMPLER" 2>/dev/null; return 1; }
  sent=$(date +%s.%N)
  echo "  $target: accepted in $(echo "$start $sent" | awk '{printf "%.2f", $2 - $1}') s" >&2
  wait "$waiter" || { kill "$SAMPLER"; return 1; }
  kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
  end=$(cat "$W/sink.end")
  echo "  $target: at the sink after $(echo "$start $end" | awk '{printf "%.2f", $2 - $1}') s" >&2
  cpu_report >&2
  echo "$N $start $end" | awk '{printf "%.0f", $1 / ($3 - $2)}'
}

# CPU per message of each process the last pass sampled (bench/probe.js's cpu_ms), named from $W/roles; unlike the
# rate it stays comparable on a loaded machine. MariaDB and Redis are shared: other clients' work counts there too.
cpu_report() {
  node -e "
const fs = require('fs');
const [dir, n] = process.argv.slice(1);
const names = Object.fromEntries(fs.readFileSync(dir + '/roles', 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').reverse()));
const last = JSON.parse(fs.readFileSync(dir + '/samples.jsonl', 'utf8').trim().split('\n').pop());
const parts = Object.entries(last.cpu_ms || {}).map(([pid, c]) => (names[pid] || 'pid ' + pid) + ' ' + (c ? Math.round(((c.user + c.sys) * 1000) / n) + ' (sys ' + Math.round((c.sys * 1000) / n) + ')' : '?'));
console.log('  CPU per message, µs (of which system): ' + parts.join(', ') + '; load1 ' + last.load1);
" "$W" "$N"
}

# The library's floor (bench/smtp-floor.js): smtp-server with hooks that do nothing, loaded the same way. Prints
# "msg/s µs-per-message" (its own CPU); BENCH_FLOOR=0 skips it.
floor() {
  local keep=$1 port start end fpid
  node "$ROOT/bench/smtp-floor.js" >"$W/floor.port" 2>"$W/floor.cpu" &
  fpid=$!
  PIDS+=("$fpid")
  for _ in $(seq 100); do [ -s "$W/floor.port" ] && break; sleep 0.05; done
  port=$(cat "$W/floor.port")
  start=$(date +%s.%N)
  smtp-source $keep -s "$SESSIONS" -l 1024 -m "$N" -f bench@bench.example.com -t rcpt@sink.test "127.0.0.1:$port" >"$W/source.out" 2>&1 ||
    { echo "smtp-source failed on the floor server:" >&2; tail -5 "$W/source.out" >&2; }
  end=$(date +%s.%N)
  kill -TERM "$fpid"; wait "$fpid" 2>/dev/null || true
  node -e "
const [n, start, end, file] = process.argv.slice(1);
const r = JSON.parse(require('fs').readFileSync(file, 'utf8'));
if (r.n !== Number(n)) { console.error('the floor server took ' + r.n + ' of ' + n + ' messages'); console.log('null null'); }
else console.log(Math.round(n / (end - start)) + ' ' + r.us_per_msg);
" "$N" "$start" "$end" "$W/floor.cpu"
}

# ---- Postfix: a private instance on loopback relaying everything to the sink
setup_postfix() {
  local pf="$W/pf"
  mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
  chmod 755 "$W"
  chown postfix "$pf/data"
  cat >"$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
myhostname = bench.localdomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
relayhost = [127.0.0.1]:$SINK_PORT
smtpd_relay_restrictions = permit_mynetworks, reject
default_destination_concurrency_limit = $SESSIONS
smtp_destination_concurrency_limit = $SESSIONS
EOF
  sed -e "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$PF_PORT inet n - n - - smtpd/" \
      -e 's/^\([a-z]* *unix *[-ny] *[-ny] *\)y/\1n/' /etc/postfix/master.cf >"$pf/etc/master.cf"
  grep -q "^postlog" "$pf/etc/master.cf" || echo "postlog   unix-dgram n  -       n       -       1       postlogd" >>"$pf/etc/master.cf"
  # As root, postfix accepts a -c directory that the system main.cf does not list (no alternate_config_directories).
  postfix -c "$pf/etc" check >/dev/null 2>&1 || true
  postfix -c "$pf/etc" start >/dev/null 2>&1
  sleep 1
}

# ---- Postern: api (for setup), smtp front, workers relaying to the sink
api() { curl -s "http://127.0.0.1:$API_PORT/api.php" -H 'content-type: application/json' -d "$1"; }
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const v=JSON.parse(s);console.log(eval('v.'+process.argv[1]))})" "$1"; }

start_postern_roles() { # $1 = DKIM_SIGNING
  for role in smtp $(for _ in $(seq "$WORKERS"); do echo worker; done); do
    PROF_N=$((PROF_N + 1))
    # BENCH_PROFILE=dir: a CPU profile per role and pass, named <role>-<n>.cpuprofile (n counts role starts).
    local prof=()
    [ -z "${BENCH_PROFILE:-}" ] || prof=(--cpu-prof --cpu-prof-dir="$BENCH_PROFILE" --cpu-prof-name="$role-$PROF_N.cpuprofile")
    env "${ENVS[@]}" DKIM_SIGNING="$1" DELIVERY_MODE=relay SMTP_RELAY_URL="smtp://127.0.0.1:$SINK_PORT" node ${BENCH_NODE_ARGS:-} "${prof[@]}" "$ROOT/dist/src/main.js" "$role" >>"$W/postern.log" 2>&1 &
    PIDS+=("$!")
    ROLE_PIDS+=("$!")
    echo "$role $!" >>"$W/roles"
  done
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PT_SMTP") 2>/dev/null; then
      for p in "${ROLE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "a Postern role exited at start; see $W/postern.log" >&2; exit 1; }; done
      return 0
    fi
    sleep 0.1
  done
  echo "Postern's SMTP front did not start; see $W/postern.log" >&2; exit 1
}
stop_postern_roles() { for p in "${ROLE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${ROLE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; ROLE_PIDS=(); }

mysql -uroot -h127.0.0.1 -e "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4"
# Not $(free_port): the command substitution's subshell would not remember the ports picked.
free_port >"$W/port"; API_PORT=$(cat "$W/port"); free_port >"$W/port"; PT_SMTP=$(cat "$W/port"); free_port >"$W/port"; PF_PORT=$(cat "$W/port")
ENVS=(DATABASE_URL="$MYSQL/$DB" REDIS_URL="$REDIS" REDIS_PREFIX="postern-relaybench:$ID" ENCRYPTION_KEY="$(openssl rand -hex 32)"
  ADMIN_API_KEY="relay-bench-admin-$ID" MAIL_HOSTNAME=mx.bench.test LOG_LEVEL=warn API_RATE_LIMIT_PER_MINUTE=0 POSTERN_COALESCE_STATS=${POSTERN_COALESCE_STATS:-}
  PORT="$API_PORT" HOST=127.0.0.1 SMTP_HOST=127.0.0.1 SMTP_PORT="$PT_SMTP" INBOUND_SMTP_PORT=0
  DELIVERY_CONCURRENCY=50 SMTP_RELAY_MAX_CONNECTIONS="${SMTP_RELAY_MAX_CONNECTIONS:-}" SMTP_MAX_CONNECTIONS_PER_IP=1000 OPS_HOST=127.0.0.1 OPS_PORT=0)   # each role its own free health port
ROLE_PIDS=()
PROF_N=0
# The MariaDB and Redis servers' PIDs, asked of the servers, for their CPU per message (cpu_report).
MARIADB_PID=$(cat "$(mysql -N -uroot -h127.0.0.1 -e 'select @@pid_file')" 2>/dev/null || true)
REDIS_PID=$(cd "$ROOT" && node -e "
const r = new (require('ioredis'))(process.argv[1], { maxRetriesPerRequest: 1 });
r.info('server').then((s) => console.log(/process_id:(\d+)/.exec(s)?.[1] ?? ''), () => console.log('')).finally(() => r.disconnect());
" "$REDIS" 2>/dev/null || true)
SERVER_PIDS="$MARIADB_PID $REDIS_PID"

env "${ENVS[@]}" node "$ROOT/dist/src/main.js" api >>"$W/postern.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break; sleep 0.1; done
api "{\"Command\":\"user.create\",\"AdminAPIKey\":\"relay-bench-admin-$ID\",\"RelUserGroupID\":1,\"EmailAddress\":\"b@example.com\",\"Username\":\"bench\",\"Password\":\"bench-password\",\"FirstName\":\"B\",\"TimeZone\":\"UTC\",\"Language\":\"en\"}" >/dev/null
SID=$(api '{"Command":"user.login","Username":"bench","Password":"bench-password"}' | json SessionID)
DID=$(api "{\"Command\":\"emailgateway.adddomain\",\"SessionID\":\"$SID\",\"DomainName\":\"bench.example.com\"}" | json NewSenderDomainID)
mysql -uroot -h127.0.0.1 "$DB" -e "UPDATE sender_domains SET status='Enabled'"
SMTP_USER=$(api "{\"Command\":\"emailgateway.addsmtp\",\"SessionID\":\"$SID\",\"DomainID\":$DID}" | json SMTP.SMTPUsername)
ENVS+=(SMTP_TRUSTED_CLIENTS="127.0.0.1=$SMTP_USER")   # smtp-source cannot AUTH: loopback sends as the credential

echo "# Relay benchmark: $N messages of 1 KiB, smtp-source -s $SESSIONS, $WORKERS Postern workers, $(nproc) cores"
RSA=$(node "$ROOT/bench/probe.js" rsa 2000)   # this machine's RSA-2048 sign rate on one thread, now
echo "RSA-2048 signatures, one thread: $RSA/s"
: >"$W/roles"; : >"$W/samples.jsonl"; : >"$W/rates"
[ -z "$MARIADB_PID" ] || echo "mariadb $MARIADB_PID" >>"$W/roles"
[ -z "$REDIS_PID" ] || echo "redis $REDIS_PID" >>"$W/roles"
MODES=("-d" ""); [ -n "${BENCH_QUICK:-}" ] && MODES=("-d")   # BENCH_QUICK=1: only -d, and no DKIM-on pass
[ "${BENCH_CONNECTIONS:-}" = "new" ] && MODES=("")              # BENCH_CONNECTIONS=new: only a new connection per message
for keep in "${MODES[@]}"; do
  label=$([ -n "$keep" ] && echo "one connection per session (-d)" || echo "a new connection per message")
  key=$([ -n "$keep" ] && echo pooled || echo new_conn)
  pf=null
  if [ -z "${BENCH_SKIP_POSTFIX:-}" ]; then   # BENCH_SKIP_POSTFIX=1: Postern only (while tuning; there is then no ratio)
    start_sink; setup_postfix
    pf=$(measure "127.0.0.1:$PF_PORT" "bench@bench.example.com" "$keep" "$(cat "$W/sink.pid")")
    postfix -c "$W/pf/etc" stop >/dev/null 2>&1; stop_sink
  fi
  start_sink; start_postern_roles 0
  pt=$(measure "127.0.0.1:$PT_SMTP" "bench@bench.example.com" "$keep" "${ROLE_PIDS[*]} $SERVER_PIDS")
  stop_postern_roles; stop_sink
  ptd=null
  if [ -z "${BENCH_QUICK:-}" ]; then
    start_sink; start_postern_roles 1
    ptd=$(measure "127.0.0.1:$PT_SMTP" "bench@bench.example.com" "$keep" "${ROLE_PIDS[*]} $SERVER_PIDS")
    stop_postern_roles; stop_sink
  fi
  fl="null null"
  [ "${BENCH_FLOOR:-1}" = "0" ] || fl=$(floor "$keep")
  echo "$key $pf $pt $ptd $fl" >>"$W/rates"
  echo "$label: Postfix ${pf} msg/s; Postern DKIM off ${pt} msg/s ($(awk -v a="$pt" -v b="$pf" 'BEGIN{ if (b == "null") print "no"; else printf "%.2f", a/b}')x Postfix, target >= 2.0x pooled, >= 1.5x new connections); Postern DKIM on ${ptd} msg/s"
  [ "$fl" = "null null" ] || echo "  smtp-server alone (hooks that do nothing, nothing stored or relayed): ${fl% *} msg/s, ${fl#* } µs of its CPU per message"
done

# The one line to compare runs by: issue 15's keys (null where this bench measures nothing), then its own rates.
node -e "
const fs = require('fs');
const [dir, rsa] = process.argv.slice(1);
const lines = (f) => fs.readFileSync(dir + '/' + f, 'utf8').split('\n').filter(Boolean);
const roles = Object.fromEntries(lines('roles').map((l) => l.split(' ').reverse()));
const samples = lines('samples.jsonl').map((l) => JSON.parse(l));
const peak = (role) => {
  const v = samples.flatMap((s) => Object.entries(s.rss_mb).filter(([pid, mb]) => roles[pid] === role && mb !== null).map(([, mb]) => mb));
  return v.length ? Math.max(...v) : null;
};
const n = samples.reduce((a, s) => a + s.samples, 0);
const num = (v) => (v === 'null' ? null : Number(v));
const out = { batch_msg_s: null, single_ratio: null, single_p99_ms: null, e2e_dkim_off_msg_s: null, e2e_dkim_on_msg_s: null, rsa_signs_s: Number(rsa),
  relay_ratio_pooled: null, relay_ratio_new_conn: null, api_rss_mb: null, worker_rss_mb: peak('worker'),
  load1: n ? Math.round((samples.reduce((a, s) => a + s.load1 * s.samples, 0) / n) * 100) / 100 : null, smtp_rss_mb: peak('smtp') };
for (const [key, pf, pt, ptd, flr, flus] of lines('rates').map((l) => l.split(' '))) {
  out['relay_ratio_' + key] = num(pf) && num(pt) ? Math.round((num(pt) / num(pf)) * 100) / 100 : null;
  Object.assign(out, { ['relay_' + key + '_postfix_msg_s']: num(pf), ['relay_' + key + '_postern_msg_s']: num(pt), ['relay_' + key + '_postern_dkim_msg_s']: num(ptd),
    ['relay_' + key + '_floor_msg_s']: num(flr), ['relay_' + key + '_floor_us']: num(flus) });
}
console.log('BENCH ' + JSON.stringify(out));
" "$W" "$RSA"
