import crypto from 'node:crypto';
import net from 'node:net';
import { DkimKeyCache } from '../../src/delivery/dkim-keys';
import { Transports } from '../../src/delivery/transports';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { QUICK_RETRIES } from '../helpers/rig';
import { Sink, startSink, waitFor } from '../helpers/sink';

/** A real DNS server in-process: MX and A records the tests publish, NXDOMAIN for every other name. */
let dns: DnsZone;
let h: Harness;
let sink: Sink;
let worker: DeliveryWorker;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  dns = await startDnsZone();
  sink = await startSink();
  h = await startHarness({
    DELIVERY_MODE: 'mx',
    MX_PORT: String(sink.port),
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
    MX_ALLOW_PRIVATE: '1', // every MX here is on loopback
    ...QUICK_RETRIES,
  });
  worker = createDeliveryWorker(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await sink.close();
  await dns.close();
});

/** A recipient domain no other test publishes. */
const rdomain = (label: string) => `${label}-${crypto.randomBytes(4).toString('hex')}.example.net`;

async function sendTo(to: string, subject: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'Delivered straight to your MX.',
      From: { name: 'Direct', email: `direct@${s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

/** Waits until the delivery leaves sending/queued for good (delivered) or reports the row it is stuck at. */
async function waitDelivered(messageId: string) {
  const row = () => h.services.db('deliveries').where({ message_id: messageId }).first();
  try {
    await waitFor(async () => (await row())?.status === 'delivered', 15_000, 'delivered');
  } catch {
    const r = await row();
    throw new Error(`not delivered: status ${r.status}, attempts ${r.attempts}, class ${r.bounce_class}, last reply "${r.last_reply}"`);
  }
  return row();
}

const subjects = (sk: Sink) => sk.received.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);

describe('DELIVERY_MODE=mx', () => {
  it("delivers to the recipient domain's MX host, whose address comes from DNS_SERVERS", async () => {
    const domain = rdomain('mx');
    dns.zone.set(domain, { mx: [{ exchange: `mail.${domain}`, priority: 10 }] });
    dns.zone.set(`mail.${domain}`, { a: ['127.0.0.1'] });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'Via MX');

    const d = await waitDelivered(id);
    expect(Number(d.attempts)).toBe(1);
    // A first attempt's 250 is kept in its delivered event, not on the row (20270106000100): the lookup answers it.
    const body = (await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } })).body;
    expect(body.Recipients[0].LastReply).toMatch(/^250 /);
    const got = sink.received.filter((m) => m.to.includes(to));
    expect(got).toHaveLength(1);
    expect(subjects(sink)).toContain('Via MX');
    expect(dns.queries).toContain(`MX ${domain}`);
  });

  it('falls back to the A record of a domain that publishes no MX', async () => {
    const domain = rdomain('bare');
    dns.zone.set(domain, { a: ['127.0.0.1'] });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'Via A fallback');

    await waitDelivered(id);
    expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);
    expect(dns.queries).toContain(`MX ${domain}`);
  });

  it('keeps at most its cap of SMTP pools: unused ones go when a new host needs one', async () => {
    // A worker's own transports, with a cap of 5 (500 in production) and this file's DNS zone and sink.
    const transports = new Transports(h.services.config, new DkimKeyCache(), undefined, null, undefined, undefined, 5);
    try {
      const domains = Array.from({ length: 12 }, () => rdomain('many'));
      for (const d of domains) dns.zone.set(d, { a: ['127.0.0.1'] });
      for (const d of domains) {
        const out = await transports.send({ from: `bounce@${s.domain}`, to: `r@${d}` }, Buffer.from(`Subject: pool ${d}\r\n\r\nx\r\n`), null);
        expect(out).toMatchObject({ ok: true });
        expect(transports.poolCount).toBeLessThanOrEqual(5);
      }
      expect(sink.received.filter((m) => domains.some((d) => m.to.includes(`r@${d}`)))).toHaveLength(12);
    } finally {
      transports.close();
    }
  });

  it('falls back to the second MX when the preferred one refuses the connection', async () => {
    const domain = rdomain('pair');
    // Listed backup first: the preference value, not the answer order, decides.
    dns.zone.set(domain, {
      mx: [
        { exchange: `backup.${domain}`, priority: 20 },
        { exchange: `primary.${domain}`, priority: 10 },
      ],
    });
    dns.zone.set(`primary.${domain}`, { a: ['127.0.0.2'] }); // loopback, nothing listens there
    dns.zone.set(`backup.${domain}`, { a: ['127.0.0.1'] });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'Via backup MX');

    const d = await waitDelivered(id);
    expect(Number(d.attempts)).toBe(1);
    expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);
  });

  it("tries an MX host's next address when the first one drops the connection, five addresses at most", async () => {
    // 127.0.0.7 takes each connection and closes it at once: a dead address of a host with several.
    const dropped: number[] = [];
    const dropper = net.createServer((socket) => {
      dropped.push(1);
      socket.destroy();
    });
    await new Promise<void>((resolve) => dropper.listen(sink.port, '127.0.0.7', resolve));
    try {
      const domain = rdomain('multi');
      dns.zone.set(domain, { mx: [{ exchange: `mail.${domain}`, priority: 10 }] });
      dns.zone.set(`mail.${domain}`, { a: ['127.0.0.7', '127.0.0.1'] });
      const to = `reader@${domain}`;
      const d = await waitDelivered(await sendTo(to, 'Via the second address'));
      expect(Number(d.attempts)).toBe(1);
      expect(dropped.length).toBeGreaterThanOrEqual(1);
      expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);

      // Six MX hosts on the dead address: one attempt tries five of them (Postfix's smtp_mx_address_limit), not six.
      const many = rdomain('many');
      dns.zone.set(many, { mx: [1, 2, 3, 4, 5, 6].map((n) => ({ exchange: `mx${n}.${many}`, priority: n })) });
      for (let n = 1; n <= 6; n++) dns.zone.set(`mx${n}.${many}`, { a: ['127.0.0.7'] });
      const before = dropped.length;
      const id = await sendTo(`reader@${many}`, 'To six dead MX hosts');
      const row = () => h.services.db('deliveries').where({ message_id: id }).first();
      await waitFor(async () => Number((await row())?.attempts) >= 1, 15_000, 'the first attempt');
      expect((await row()).status).toBe('deferred');
      expect(dropped.length - before).toBe(5);
    } finally {
      await new Promise((resolve) => dropper.close(resolve));
    }
  });

  it('spreads mail over MX hosts of equal preference (RFC 5321 §5.1), not always the first one listed', async () => {
    const second = await startSink({ host: '127.0.0.3', port: sink.port });
    try {
      const domain = rdomain('equal');
      dns.zone.set(domain, {
        mx: [
          { exchange: `a.${domain}`, priority: 10 },
          { exchange: `b.${domain}`, priority: 10 },
        ],
      });
      dns.zone.set(`a.${domain}`, { a: ['127.0.0.1'] });
      dns.zone.set(`b.${domain}`, { a: ['127.0.0.3'] });
      const to = Array.from({ length: 16 }, (_, i) => ({ name: '', email: `r${i}@${domain}` }));
      const res = await h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${s.key}` },
        body: { Subject: 'Spread', ContentType: 'plain', PlainContent: 'Hello.', From: { name: '', email: `direct@${s.domain}` }, To: to },
      });
      expect(res.status).toBe(200);
      const got = (sk: Sink) => sk.received.filter((m) => m.to.some((r) => r.endsWith(`@${domain}`))).length;
      await waitFor(() => got(sink) + got(second) === 16, 15_000, 'all sixteen');
      // Each delivery draws the order afresh: all sixteen on one host has a chance of 2 in 65,536.
      expect(got(sink)).toBeGreaterThan(0);
      expect(got(second)).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });

  it('uses the preferred MX when it answers, not the backup', async () => {
    const primary = await startSink({ host: '127.0.0.3', port: sink.port });
    try {
      const domain = rdomain('prefer');
      dns.zone.set(domain, {
        mx: [
          { exchange: `backup.${domain}`, priority: 20 },
          { exchange: `primary.${domain}`, priority: 5 },
        ],
      });
      dns.zone.set(`primary.${domain}`, { a: ['127.0.0.3'] });
      dns.zone.set(`backup.${domain}`, { a: ['127.0.0.1'] });
      const to = `reader@${domain}`;
      const id = await sendTo(to, 'Via primary MX');

      await waitDelivered(id);
      expect(primary.received.map((m) => m.to)).toEqual([[to]]);
      expect(sink.received.filter((m) => m.to.includes(to))).toEqual([]);
    } finally {
      await primary.close();
    }
  });
});

/** The same MX choices with loopback IP literals as exchanges: MX lookup, preference order and fallback on their own. */
describe('DELIVERY_MODE=mx: MX preference and fallback', () => {
  it('looks the MX up through DNS_SERVERS and connects to it on MX_PORT', async () => {
    const domain = rdomain('local');
    dns.zone.set(domain, { mx: [{ exchange: '127.0.0.1', priority: 10 }] });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'Via a literal MX');
    const d = await waitDelivered(id);
    expect(Number(d.attempts)).toBe(1);
    expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);
    expect(dns.queries).toContain(`MX ${domain}`);
  });

  it('tries the next MX when the preferred one refuses the connection', async () => {
    const domain = rdomain('literal-pair');
    dns.zone.set(domain, {
      mx: [
        { exchange: '127.0.0.1', priority: 20 },
        { exchange: '127.0.0.2', priority: 10 },
      ],
    });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'Via literal backup');
    const d = await waitDelivered(id);
    expect(Number(d.attempts)).toBe(1);
    expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);
  });

  it('sends to the preferred MX when it answers', async () => {
    const primary = await startSink({ host: '127.0.0.3', port: sink.port });
    try {
      const domain = rdomain('literal-prefer');
      dns.zone.set(domain, {
        mx: [
          { exchange: '127.0.0.1', priority: 20 },
          { exchange: '127.0.0.3', priority: 5 },
        ],
      });
      const to = `reader@${domain}`;
      const id = await sendTo(to, 'Via literal primary');
      await waitDelivered(id);
      expect(primary.received.map((m) => m.to)).toEqual([[to]]);
      expect(sink.received.filter((m) => m.to.includes(to))).toEqual([]);
    } finally {
      await primary.close();
    }
  });

  it('bounces a domain that publishes a null MX without connecting anywhere', async () => {
    const domain = rdomain('nullmx');
    dns.zone.set(domain, { mx: [{ exchange: '', priority: 0 }] });
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'To a null MX');
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'bounced', 15_000, 'bounced');
    const d = await h.services.db('deliveries').where({ message_id: id }).first();
    expect(d).toMatchObject({ bounce_class: 'hard', last_reply: `556 5.1.10 ${domain} accepts no mail (null MX)` });
    expect(sink.received.filter((m) => m.to.includes(to))).toEqual([]);
  });

  it('hard-bounces a recipient domain that does not exist (NXDOMAIN) with 550 5.1.2 and suppresses the address, without retrying', async () => {
    const domain = rdomain('nosuch'); // in no zone: NXDOMAIN for its MX and its address
    const to = `reader@${domain}`;
    const id = await sendTo(to, 'To no such domain');
    const reply = `550 5.1.2 ${domain}: host or domain name not found`;
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'bounced', 10_000, 'bounced');
    const body = (await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } })).body;
    expect(body.Recipients[0]).toMatchObject({ Status: 'bounced', BounceClass: 'hard', Attempts: 1, LastReply: reply });
    await waitFor(async () => (await h.services.db('suppressions').where({ email: to })).length > 0, 5000, 'the suppression row');
    const again = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'again',
        ContentType: 'plain',
        PlainContent: 'x',
        From: { name: 'Direct', email: `direct@${s.domain}` },
        To: [{ name: '', email: to }],
      },
    });
    expect(again.body.Errors?.[0]?.Code ?? again.body.ErrorCode).toBe(14);
  });

  it('hard-bounces a domain with no MX whose own address lookup answers NXDOMAIN (RFC 5321 fallback)', async () => {
    const domain = rdomain('gone');
    dns.zone.set(domain, { addressRcode: 3 }); // MX: no records; A and AAAA: no such name
    const id = await sendTo(`reader@${domain}`, 'To a vanished domain');
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'bounced', 10_000, 'bounced');
    const body = (await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } })).body;
    expect(body.Recipients[0]).toMatchObject({ Status: 'bounced', BounceClass: 'hard', LastReply: `550 5.1.2 ${domain}: host or domain name not found` });
  });

  it('still defers a recipient domain whose DNS server fails (SERVFAIL): the domain may well exist', async () => {
    const domain = rdomain('servfail');
    dns.zone.set(domain, { rcode: 2 });
    const id = await sendTo(`reader@${domain}`, 'To a broken DNS server');
    const row = () => h.services.db('deliveries').where({ message_id: id }).first();
    await waitFor(async () => Number((await row())?.attempts) >= 1, 10_000, 'an attempt');
    expect(await row()).toMatchObject({ status: 'deferred', bounce_class: 'connection', last_reply: `DNS ESERVFAIL looking up MX of ${domain}` });
  });
});

describe('DELIVERY_MODE=mx without MX_ALLOW_PRIVATE', () => {
  it('refuses a domain whose MX resolves to a loopback or private address (550 5.4.4) and connects nowhere', async () => {
    const h2 = await startHarness({ DELIVERY_MODE: 'mx', MX_PORT: String(sink.port), DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000' });
    const w2 = createDeliveryWorker(h2.services);
    try {
      const s2 = await senderSetup(h2);
      const domain = rdomain('private');
      dns.zone.set(domain, {
        mx: [
          { exchange: `mx1.${domain}`, priority: 10 },
          { exchange: `mx2.${domain}`, priority: 20 },
        ],
      });
      dns.zone.set(`mx1.${domain}`, { a: ['127.0.0.1'] });
      dns.zone.set(`mx2.${domain}`, { a: ['10.0.0.5'] });
      const to = `reader@${domain}`;
      const res = await h2.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${s2.key}` },
        body: { Subject: 'private MX', ContentType: 'plain', PlainContent: 'x', From: { email: `a@${s2.domain}` }, To: [{ email: to }] },
      });
      expect(res.status).toBe(200);
      const row = () => h2.services.db('deliveries').where({ message_id: res.body.MessageID }).first();
      await waitFor(async () => !['queued', 'sending'].includes((await row())?.status), 15_000, 'a final answer');
      const d = await row();
      expect(d.last_reply).toMatch(/^550 5\.4\.4 mx2\./);
      expect(sink.received.filter((m) => m.to.includes(to))).toHaveLength(0);
    } finally {
      await h2.services.queues.close();
      await w2.stop();
      await h2.close();
    }
  });
});

describe('DELIVERY_MODE=mx: how each message crossed the wire', () => {
  /** The Data of a message's `delivered` event, as GET /api/v1/events answers it. */
  const deliveredData = async (messageId: string) => {
    const res = await h.request('GET', `/api/v1/events?MessageID=${messageId}&Event=delivered`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(res.body.Events).toHaveLength(1);
    return res.body.Events[0].Data as Record<string, unknown>;
  };

  it('records the TLS protocol and cipher when the MX offers STARTTLS, and tls "none" when it does not', async () => {
    const tlsSink = await startSink({ host: '127.0.0.4', port: sink.port }, { starttls: true });
    try {
      const secured = rdomain('tls');
      dns.zone.set(secured, { mx: [{ exchange: `mx.${secured}`, priority: 10 }] });
      dns.zone.set(`mx.${secured}`, { a: ['127.0.0.4'] });
      const clear = rdomain('clear');
      dns.zone.set(clear, { a: ['127.0.0.1'] });
      const overTls = await sendTo(`reader@${secured}`, 'Over TLS');
      const inClear = await sendTo(`reader@${clear}`, 'In clear');
      await waitDelivered(overTls);
      await waitDelivered(inClear);

      // Both ends agree: the TLS sink's session was encrypted, the plain sink's was not.
      expect(tlsSink.received.map((m) => m.secure)).toEqual([true]);
      expect(sink.received.filter((m) => m.to.includes(`reader@${clear}`)).map((m) => m.secure)).toEqual([false]);
      const secure = await deliveredData(overTls);
      expect(secure.tls).toMatch(/^TLSv1\.[23]$/);
      expect(secure.tls_cipher).toMatch(/^[A-Z0-9_-]{6,}$/);
      expect(secure.smtp_reply).toMatch(/^250 /);
      expect(secure.tls_policy).toBe('may'); // the default: any certificate, none verified
      const plain = await deliveredData(inClear);
      expect(plain).toMatchObject({ recipient: `reader@${clear}`, smtp_reply: expect.stringMatching(/^250 /), tls: 'none', tls_policy: 'may' });
      expect(plain.tls_cipher).toBeUndefined();
    } finally {
      await tlsSink.close();
    }
  });
});
