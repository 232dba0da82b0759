import net from 'node:net';
import knex from 'knex';
import nodemailer from 'nodemailer';
import { Metrics } from '../../src/ops/metrics';
import { startOpsListener } from '../../src/ops/health';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { metric } from '../helpers/prom';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
let front: SmtpFront;
let smtpUser: string;
let smtpPass: string;

beforeAll(async () => {
  rig = await startRelayRig({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', OPS_PORT: '0', OPS_HOST: '127.0.0.1' });
  front = await startSmtpFront(rig.h.services);
  const c = await rig.h.call({ Command: 'emailgateway.addsmtp', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
  smtpUser = c.SMTP.SMTPUsername;
  smtpPass = c.SMTP.SMTPPassword;
});
afterAll(async () => {
  await front.close();
  await rig.close();
});

const scrape = async () => {
  const res = await rig.h.request('GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text;
};

function email(to: string) {
  return { Subject: 'Hi', ContentType: 'plain', PlainContent: 'hello', From: { email: `app@${rig.s.domain}` }, To: [{ email: to }] };
}

describe('/metrics on the api port', () => {
  it('shows deliveries waiting in the queue and the age of the oldest', async () => {
    const now = Date.now();
    const [messageId] = [
      (
        await rig.h.request('POST', '/api/v1/email', {
          headers: { ...{ Authorization: `Bearer ${rig.s.key}` } },
          body: { ...email('later@dest.test'), SendAt: Math.floor(now / 1000) + 3600 },
        })
      ).body.MessageID,
    ];
    expect(messageId).toBeDefined();
    // Runs first: the gauges reuse one database reading for a few seconds. A row that waits for its first
    // attempt, accepted a minute ago (as a worker finds it after a restart).
    const db = rig.h.services.db;
    const d = await db('deliveries').where({ message_id: messageId }).first();
    await db('deliveries')
      .where({ id: d.id })
      .update({ status: 'queued', created_at: now - 60_000, next_attempt_at: now + 3_600_000 });
    const text = await scrape();
    expect(metric(text, 'postern_queue_depth', { state: 'queued' })).toBe(1);
    expect(metric(text, 'postern_queue_oldest_queued_seconds')).toBeGreaterThanOrEqual(59);
    await db('deliveries').where({ id: d.id }).update({ status: 'failed' });
  });

  it('counts requests by route, commands by result code and accepted messages by door, then the deliveries they became', async () => {
    const auth = { Authorization: `Bearer ${rig.s.key}` };
    expect((await rig.h.request('POST', '/api/v1/email', { headers: { ...auth }, body: email('one@dest.test') })).status).toBe(200);
    expect(
      (await rig.h.request('POST', '/api/v1/email/batch', { headers: { ...auth }, body: { Messages: [email('two@dest.test'), email('three@dest.test')] } }))
        .status,
    ).toBe(200);
    expect(
      (await rig.h.request('POST', '/api.php', { body: { Command: 'emailgateway.sendemail', SenderAPIKey: rig.s.key, ...email('four@dest.test') } })).body
        .Success,
    ).toBe(true);
    expect((await rig.h.request('POST', '/api/v1/email', { headers: { ...auth }, body: { ...email('x@dest.test'), Subject: '' } })).body.Errors[0].Code).toBe(
      8,
    ); // HTTP 200 (upstream §2.1)
    expect((await rig.h.request('POST', '/api.php', { body: { Command: 'no.such.command' } })).status).toBe(400);
    await rig.h.request('GET', '/no/such/path/zq-raw-path');

    await waitFor(() => rig.sink.received.length >= 4, 15000, 'four deliveries');
    const text = await waitForMetric(
      () => scrape(),
      (t) => metric(t, 'postern_deliveries_total', { outcome: 'delivered' }) >= 4,
    );

    expect(metric(text, 'postern_messages_accepted_total', { door: 'v1' })).toBe(2); // one in the test before
    // The rig's sink offers no STARTTLS: every delivered copy went in clear.
    expect(metric(text, 'postern_delivered_tls_total', { tls: 'none' })).toBe(metric(text, 'postern_deliveries_total', { outcome: 'delivered' }));
    expect(metric(text, 'postern_messages_accepted_total', { door: 'batch' })).toBe(2);
    expect(metric(text, 'postern_messages_accepted_total', { door: 'api.php' })).toBe(1);
    // The refused send answers HTTP 200 too (upstream §2.1): three 200s, its failure shows in the command's code.
    expect(metric(text, 'postern_http_requests_total', { route: 'POST /api/v1/email', command: 'emailgateway.sendemail', status: '200' })).toBe(3);
    expect(metric(text, 'postern_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(metric(text, 'postern_http_request_duration_seconds_count', { route: 'POST /api/v1/email/batch' })).toBe(1);
    expect(metric(text, 'postern_commands_total', { command: 'emailgateway.sendemail', code: '0' })).toBe(3);
    expect(metric(text, 'postern_commands_total', { command: 'emailgateway.sendemail', code: '8' })).toBe(1);
    expect(metric(text, 'postern_commands_total', { command: 'unknown', code: '100003' })).toBe(1);
    // The raw path of an unmatched request never becomes a label.
    expect(text).not.toContain('zq-raw-path');

    expect(metric(text, 'postern_delivery_latency_seconds_count')).toBe(4);
    expect(metric(text, 'postern_remote_smtp_replies_total', { class: '2xx' })).toBe(4);
    expect(metric(text, 'postern_group_commit_size_count', { coalescer: 'accept' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'postern_group_commit_size_sum', { coalescer: 'settle' })).toBe(4);
    expect(metric(text, 'postern_dkim_sign_seconds_count')).toBe(4);
    expect(text).toMatch(/^postern_queue_depth\{state="held"\} 0$/m);
    expect(text).toMatch(/^postern_webhook_outbox_backlog 0$/m);
    expect(text).toMatch(/^postern_metrics_db_up 1$/m);
    expect(text).toMatch(/^postern_db_pool_connections\{state="used"\} \d+$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });

  it('answers only the bearer token when METRICS_TOKEN is set', async () => {
    rig.h.services.config.metricsToken = 'scrape-secret-123';
    try {
      const denied = await rig.h.request('GET', '/metrics');
      expect(denied.status).toBe(401);
      expect(denied.text).not.toContain('postern_');
      expect((await rig.h.request('GET', '/metrics', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await rig.h.request('GET', '/metrics', { headers: { Authorization: 'Bearer scrape-secret-123' } })).status).toBe(200);
    } finally {
      rig.h.services.config.metricsToken = null;
    }
  });
});

describe('/metrics while the database is down', () => {
  it('still answers, with the process metrics, and says the database figures could not be read', async () => {
    const quiet = { warn: () => undefined, error: () => undefined, debug: () => undefined, deprecate: () => undefined };
    const gone = knex({
      client: 'mysql2',
      connection: { host: '127.0.0.1', port: 1, user: 'x', database: 'x', connectTimeout: 500 },
      pool: { min: 0, max: 1 },
      acquireConnectionTimeout: 1000,
      log: quiet,
    });
    try {
      const m = new Metrics(gone, { topDomains: 5 });
      m.command('users.get', 0);
      const text = await m.scrape();
      expect(metric(text, 'postern_commands_total', { command: 'users.get' })).toBe(1);
      expect(text).toMatch(/^postern_metrics_db_up 0$/m);
      expect(text).toContain('process_cpu_user_seconds_total');
    } finally {
      await gone.destroy();
    }
  });
});

describe('SMTP front metrics', () => {
  const client = (pass: string) =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port: front.ports[0],
      secure: false,
      auth: { user: smtpUser, pass },
      tls: { rejectUnauthorized: false },
    } as any);

  it('counts sessions, AUTH failures, refusals by stage and reply, and messages accepted through smtp', async () => {
    await expect(client('wrong-password').sendMail({ from: `app@${rig.s.domain}`, to: 'a@dest.test', text: 'x' })).rejects.toThrow(/535/);
    await expect(client(smtpPass).sendMail({ from: 'app@other.test', to: 'a@dest.test', text: 'x' })).rejects.toThrow(/553/);
    await client(smtpPass).sendMail({ from: `app@${rig.s.domain}`, to: 'smtp@dest.test', subject: 's', text: 'via smtp' });
    const text = await waitForMetric(
      () => scrape(),
      (t) => metric(t, 'postern_smtp_sessions_active') === 0,
    );
    expect(metric(text, 'postern_smtp_sessions_total')).toBe(3);
    expect(metric(text, 'postern_smtp_auth_failures_total')).toBe(1);
    expect(metric(text, 'postern_smtp_rejections_total', { stage: 'auth', reply: '535 5.7.8' })).toBe(1);
    expect(metric(text, 'postern_smtp_rejections_total', { stage: 'mail', reply: '553 5.7.1' })).toBe(1);
    expect(metric(text, 'postern_messages_accepted_total', { door: 'smtp' })).toBe(1);
  });
});

describe('the ops listener of the worker and smtp roles', () => {
  it('serves /healthz, /readyz and /metrics, and nothing else', async () => {
    const ops = await startOpsListener(rig.h.services, 'worker');
    try {
      const base = `http://127.0.0.1:${ops.port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', role: 'worker' });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: Record<string, string> }).checks.database).toBe('ok');
      const m = await fetch(`${base}/metrics`);
      expect(m.status).toBe(200);
      expect(await m.text()).toContain('postern_deliveries_total');
      expect((await fetch(`${base}/api.php`)).status).toBe(404);
    } finally {
      await ops.close();
    }
  });
});

describe('the ops listener bounds slow clients as the api does', () => {
  it('answers 408 and closes a client that sends its headers too slowly', async () => {
    const services = { ...rig.h.services, config: { ...rig.h.services.config, httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 800 } };
    const ops = await startOpsListener(services, 'worker');
    try {
      const socket = net.connect(ops.port, '127.0.0.1');
      let said = '';
      socket.on('data', (d: Buffer) => (said += d.toString('latin1')));
      const started = Date.now();
      socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      await new Promise((r) => socket.on('close', r));
      expect(said).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await ops.close();
    }
  });
});

async function waitForMetric(read: () => Promise<string>, ok: (text: string) => boolean, ms = 10000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const text = await read();
    if (ok(text) || Date.now() > until) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
}
