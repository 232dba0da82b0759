#!/usr/bin/env bash
# Runs the roles of docker-compose.yml as plain processes against MariaDB/MySQL and Redis, as compose starts them:
# migrate once, then api, two workers and smtp. Sends through HTTP and SMTP to a local sink and scrapes /metrics
# from every role. Its own database and Redis key prefix, removed at exit. Everything listens on 127.0.0.1.
#
#   npm run build && bash deploy/smoke.sh
#   knobs: SMOKE_MYSQL (mysql://root@127.0.0.1:3306), SMOKE_REDIS (redis://127.0.0.1:6379), SMOKE_MESSAGES (20)
set -euo pipefail
cd "$(dirname "$0")/.."

MYSQL_ROOT=${SMOKE_MYSQL:-mysql://root@127.0.0.1:3306}
REDIS=${SMOKE_REDIS:-redis://127.0.0.1:6379}
MESSAGES=${SMOKE_MESSAGES:-20}
RUN="smoke_$$_$RANDOM"
DB="postern_$RUN"
PREFIX="postern-$RUN"
WORK=$(mktemp -d)
PIDS=()
POSTERN=(node dist/src/main.js)

[ -f dist/src/main.js ] || { echo "smoke: run npm run build first" >&2; exit 1; }

mysql_root() { node -e "const u=new URL(process.argv[1]);process.stdout.write([u.hostname,u.port||'3306',decodeURIComponent(u.username),decodeURIComponent(u.password)].join(' '))" "$MYSQL_ROOT"; }
read -r MY_HOST MY_PORT MY_USER MY_PASS <<<"$(mysql_root) "
sql() { MYSQL_PWD="$MY_PASS" mysql -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -N -e "$1" ${2:+"$2"}; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

cleanup() {
  local code=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  sql "DROP DATABASE IF EXISTS \`$DB\`" || true
  node -e "
    const { Redis } = require('ioredis'); const r = new Redis(process.argv[1]);
    (async () => { const keys = await r.keys(process.argv[2] + ':*'); for (let i = 0; i < keys.length; i += 500) await r.del(...keys.slice(i, i + 500)); await r.quit(); })();
  " "$REDIS" "$PREFIX" || true
  [ $code -eq 0 ] || { echo "smoke: FAILED; logs:" >&2; tail -n 20 "$WORK"/*.log >&2 || true; }
  rm -rf "$WORK"
  exit $code
}
trap cleanup EXIT

sql "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"

# The next hop: an SMTP sink that counts what it is given.
SINK_PORT=$(free_port)
node -e "
  const { SMTPServer } = require('smtp-server'); const fs = require('fs'); let n = 0;
  new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(s, _session, cb) { s.resume(); s.on('end', () => { fs.writeFileSync(process.argv[2], String(++n)); cb(); }); } })
    .listen(Number(process.argv[1]), '127.0.0.1');
" "$SINK_PORT" "$WORK/received" &
PIDS+=($!)

API_PORT=$(free_port); W1_OPS=$(free_port); W2_OPS=$(free_port); SMTP_OPS=$(free_port); SMTP_PORT=$(free_port); INBOUND_PORT=$(free_port)
export DATABASE_URL="$MYSQL_ROOT/$DB" REDIS_URL="$REDIS" REDIS_PREFIX="$PREFIX"
export ENCRYPTION_KEY=$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")
export ADMIN_API_KEY="smoke-admin-$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")"
export MAIL_HOSTNAME=mx.smoke.test DELIVERY_MODE=relay SMTP_RELAY_URL="smtp://127.0.0.1:$SINK_PORT"
export HOST=127.0.0.1 OPS_HOST=127.0.0.1 SMTP_HOST=127.0.0.1 DNS_SERVERS=127.0.0.1:1 LOG_LEVEL=warn

echo "smoke: migrate"
"${POSTERN[@]}" migrate

start() { # name, role, extra env…
  local name=$1 role=$2; shift 2
  env "$@" "${POSTERN[@]}" "$role" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
start api api PORT="$API_PORT"
start worker1 worker OPS_PORT="$W1_OPS"
start worker2 worker OPS_PORT="$W2_OPS"
start smtp smtp OPS_PORT="$SMTP_OPS" SMTP_PORT="$SMTP_PORT" SMTP_TLS_PORT=0 INBOUND_SMTP_PORT="$INBOUND_PORT"

declare -A OPS=([api]=$API_PORT [worker1]=$W1_OPS [worker2]=$W2_OPS [smtp]=$SMTP_OPS)
for name in api worker1 worker2 smtp; do
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:${OPS[$name]}/readyz" >/dev/null && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:${OPS[$name]}/readyz" >/dev/null || { echo "smoke: $name is not ready" >&2; exit 1; }
  echo "smoke: $name ready on :${OPS[$name]} ($(curl -s "http://127.0.0.1:${OPS[$name]}/healthz"))"
done

echo "smoke: a user, a domain, a sender key and SMTP credentials with the CLI"
json() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(eval('JSON.parse(s)'+process.argv[1])))" "$1"; }
"${POSTERN[@]}" user create --username smoke --email smoke@example.com --password 'smoke test password' >/dev/null
DOMAIN_ID=$("${POSTERN[@]}" domain add smoke.example.com --user smoke | json .NewSenderDomainID)
sql "UPDATE sender_domains SET status='Enabled' WHERE id=$DOMAIN_ID" "$DB" # DNS is not what this run tests
KEY=$("${POSTERN[@]}" key create smoke.example.com | json .APIKey.APIKey)
SMTP_CRED=$("${POSTERN[@]}" call emailgateway.addsmtp --user smoke DomainID="$DOMAIN_ID")
SMTP_USER=$(echo "$SMTP_CRED" | json .SMTP.SMTPUsername)
SMTP_PASS=$(echo "$SMTP_CRED" | json .SMTP.SMTPPassword)

echo "smoke: $MESSAGES messages over HTTP, 1 over SMTP"
for i in $(seq 1 "$MESSAGES"); do
  curl -fs "http://127.0.0.1:$API_PORT/api/v1/email" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"Subject\":\"smoke $i\",\"ContentType\":\"plain\",\"PlainContent\":\"hello\",\"From\":{\"email\":\"app@smoke.example.com\"},\"To\":[{\"email\":\"r$i@dest.test\"}]}" >/dev/null
done
printf 'From: app@smoke.example.com\r\nTo: smtp@dest.test\r\nSubject: smoke over smtp\r\n\r\nhello\r\n' >"$WORK/mail.txt"
curl -fs "smtp://127.0.0.1:$SMTP_PORT" --mail-from app@smoke.example.com --mail-rcpt smtp@dest.test --user "$SMTP_USER:$SMTP_PASS" --upload-file "$WORK/mail.txt"

want=$((MESSAGES + 1))
for _ in $(seq 1 300); do [ "$(cat "$WORK/received" 2>/dev/null || echo 0)" -ge "$want" ] && break; sleep 0.2; done
got=$(cat "$WORK/received" 2>/dev/null || echo 0)
echo "smoke: the sink received $got of $want"
[ "$got" -ge "$want" ] || exit 1

sum() { # port, metric name, label=value…: the sum of the matching samples
  local port=$1; shift
  curl -fs "http://127.0.0.1:$port/metrics" | node -e "
    const [name, ...want] = process.argv.slice(1); let s = '';
    process.stdin.on('data', (d) => (s += d)).on('end', () => {
      let n = 0;
      for (const line of s.split('\n')) {
        const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (m && m[1] === name && want.every((w) => (m[2] || '').split(',').includes(w.replace(/=(.*)/, '=\"\$1\"')))) n += Number(m[3]);
      }
      console.log(n);
    });" "$@"
}
sleep 0.5
echo "smoke: /metrics of each role"
printf '  %-8s %-58s %s\n' role sample value
for name in api worker1 worker2 smtp; do
  for m in 'postern_messages_accepted_total door=v1' 'postern_messages_accepted_total door=smtp' 'postern_deliveries_total outcome=delivered' 'postern_smtp_sessions_total' 'postern_http_requests_total route=POST /api/v1/email'; do
    read -r metric label <<<"$m"
    printf '  %-8s %-58s %s\n' "$name" "$m" "$(sum "${OPS[$name]}" "$metric" ${label:+"$label"})"
  done
done
delivered=$(( $(sum "$W1_OPS" postern_deliveries_total outcome=delivered) + $(sum "$W2_OPS" postern_deliveries_total outcome=delivered) ))
[ "$(sum "$API_PORT" postern_messages_accepted_total door=v1)" -eq "$MESSAGES" ] || { echo "smoke: api did not count $MESSAGES accepted" >&2; exit 1; }
[ "$(sum "$SMTP_OPS" postern_messages_accepted_total door=smtp)" -eq 1 ] || { echo "smoke: smtp did not count its message" >&2; exit 1; }
[ "$delivered" -ge "$want" ] || { echo "smoke: the workers counted $delivered deliveries, want $want" >&2; exit 1; }
echo "smoke: OK — $want messages accepted (api + smtp) and delivered by two workers; every role answered /readyz and /metrics"
