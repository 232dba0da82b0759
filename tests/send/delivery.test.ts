import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { dkimVerdict } from '../helpers/dkim';
import { simpleParser } from 'mailparser';
import { encrypt } from '../../src/auth/secrets';
import { createLeaseSettle } from '../../src/delivery/lease-settle';
import { verpSecret } from '../../src/delivery/worker';
import { parseVerp } from '../../src/delivery/verp';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { Sink, waitFor } from '../helpers/sink';

let rig: RelayRig;
let h: Harness;
let sink: Sink;
let s: RelayRig['s'];

beforeAll(async () => {
  rig = await startRelayRig();
  ({ h, sink, s } = rig);
});
afterAll(async () => {
  await rig.close();
});

function send(body: Record<string, unknown>, key = s.key) {
  return h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${key}` }, body });
}

function basic(extra: Record<string, unknown> = {}) {
  return {
    Subject: 'Welcome to Our Service',
    ContentType: 'html',
    HTMLContent: '<h1>Welcome!</h1><p>Thank you for signing up.</p>',
    PlainContent: 'Welcome! Thank you for signing up.',
    From: { name: 'John Doe', email: `john@${s.domain}` },
    To: [{ name: 'Jane Smith', email: 'jane@recipient.test' }],
    ...extra,
  };
}

async function deliveriesOf(messageId: string) {
  return h.services.db('deliveries').where({ message_id: messageId }).orderBy('id');
}

async function publishedKey(): Promise<string> {
  const d = await h.call({ Command: 'emailgateway.getdomain', SessionID: s.sessionId, DomainID: s.domainId });
  const rec = d.Domain.DNSRecords.find((r: { Purpose: string }) => r.Purpose === 'dkim');
  return rec.Value as string;
}

describe('POST /api/v1/email → delivery to a real SMTP sink', () => {
  it('answers the MessageID and delivers a DKIM-signed message with a VERP return path', async () => {
    const res = await send(
      basic({
        CC: [{ name: 'Carl', email: 'carl@recipient.test' }],
        BCC: [{ name: '', email: 'hidden@recipient.test' }],
        Headers: { 'X-Campaign': 'spring' },
        Tags: ['welcome'],
      }),
    );
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['MessageID']);
    expect(res.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    const id = res.body.MessageID;
    await waitFor(async () => (await deliveriesOf(id)).every((d: { status: string }) => d.status === 'delivered'), 15000, 'deliveries');
    const got = sink.received.filter((r) => r.raw.toString().includes(`Subject: Welcome to Our Service`));
    expect(got.map((r) => r.to[0]).sort()).toEqual(['carl@recipient.test', 'hidden@recipient.test', 'jane@recipient.test']);

    const one = got[0];
    const deliveryId = parseVerp([verpSecret(h.services)], one.from);
    expect(deliveryId).not.toBeNull();
    expect(one.from).toMatch(new RegExp(`^b-\\d+-[a-z0-9]{10}@sl\\.${s.domain.replace(/\./g, '\\.')}$`));

    const mail = await simpleParser(one.raw);
    expect(mail.subject).toBe('Welcome to Our Service');
    expect(mail.from?.value[0]).toEqual({ name: 'John Doe', address: `john@${s.domain}` });
    expect(mail.messageId).toMatch(new RegExp(`@${s.domain.replace(/\./g, '\\.')}>$`));
    expect(mail.headers.get('x-campaign')).toBe('spring');
    expect(mail.headers.get('bcc')).toBeUndefined();
    expect(one.raw.toString()).not.toContain('hidden@recipient.test');
    expect(mail.cc && 'value' in mail.cc ? mail.cc.value[0] : null).toEqual({ name: 'Carl', address: 'carl@recipient.test' });

    const key = await publishedKey();
    const result = await dkimVerify(one.raw, {
      resolver: async (name: string, type: string) => {
        if (type === 'TXT' && name === `key1._domainkey.${s.domain}`) return [[key]];
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    expect(result.results[0].status.result).toBe('pass');
    expect(result.results[0].signingDomain).toBe(s.domain);
    const signature = (mail.headers.get('dkim-signature') as { params?: Record<string, string> } | undefined)?.params ?? {};
    expect(signature).toMatchObject({ a: 'rsa-sha256', c: 'relaxed/relaxed', s: 'key1', d: s.domain });

    const lookup = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(lookup.status).toBe(200);
    expect(lookup.body).toMatchObject({ MessageID: id, Status: 'delivered', Tags: ['welcome'] });
    expect(lookup.body.Recipients).toHaveLength(3);
    expect(lookup.body.Recipients[0].Events.map((e: { Event: string }) => e.Event)).toEqual(['queued', 'delivered']);
  });
});

describe('leasing the deliveries of a many-recipient message', () => {
  it("reads the message's body once for a group of its deliveries, not once per delivery", async () => {
    const attachment = Buffer.alloc(256 * 1024, 7);
    const to = Array.from({ length: 40 }, (_, i) => ({ name: '', email: `many${i}@recipient.test` }));
    // Scheduled an hour ahead, so the rig's worker leaves it alone until this test leases it.
    const res = await send(
      basic({
        To: to,
        SendAt: Math.floor(Date.now() / 1000) + 3600,
        Attachments: [{ filename: 'a.bin', content: attachment.toString('base64'), type: 'application/octet-stream' }],
      }),
    );
    expect(res.status).toBe(200);
    const rows = await deliveriesOf(res.body.MessageID);
    expect(rows).toHaveLength(40);
    await h.services
      .db('deliveries')
      .where({ message_id: res.body.MessageID })
      .update({ next_attempt_at: Date.now() - 1 });
    const leases = createLeaseSettle({ services: h.services, owner: 'lease-test' });
    try {
      const leased = await Promise.all(rows.map((r: { id: number }) => leases.lease(Number(r.id))));
      expect(leased.every((d) => d !== null && d.found_message === res.body.MessageID)).toBe(true);
      // One body for all: the same Buffer, read once (each row read separately would be its own copy).
      const bodies = new Set(leased.map((d) => d!.content));
      expect(bodies.size).toBe(1);
      const [body] = bodies;
      expect(Buffer.isBuffer(body)).toBe(true);
      expect((body as Buffer).subarray((body as Buffer).length - attachment.length).equals(attachment)).toBe(true);
    } finally {
      await h.services.db('deliveries').where({ message_id: res.body.MessageID }).update({ status: 'cancelled', lease_until: 0 });
    }
  });
});

describe('DKIM header coverage on delivered mail (RFC 8058, over-signing)', () => {
  afterAll(async () => {
    await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, UnsubscribeLink: false });
  });

  it('signs List-Unsubscribe and List-Unsubscribe-Post, and a From or Subject added after signing fails verification', async () => {
    await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, UnsubscribeLink: true });
    const res = await send(basic({ Subject: 'One-click please', CC: [{ name: '', email: 'carl@recipient.test' }] }));
    expect(res.status).toBe(200);
    await waitFor(async () => (await deliveriesOf(res.body.MessageID)).every((d: { status: string }) => d.status === 'delivered'), 15000, 'deliveries');
    const raw = sink.received.find((r) => r.to[0] === 'jane@recipient.test' && r.raw.toString().includes('Subject: One-click please'))!.raw;
    const head = raw
      .toString('latin1')
      .split('\r\n\r\n')[0]
      .replace(/\r\n[ \t]+/g, ' ');
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    const names = /^DKIM-Signature:.*?\bh=([^;]+);/m
      .exec(head)![1]
      .split(':')
      .map((n) => n.trim());
    const times = (n: string) => names.filter((x) => x === n).length;
    expect({ from: times('from'), subject: times('subject'), to: times('to'), date: times('date'), cc: times('cc') }).toEqual({
      from: 2,
      subject: 2,
      to: 2,
      date: 2,
      cc: 2,
    });
    expect({ unsub: times('list-unsubscribe'), post: times('list-unsubscribe-post') }).toEqual({ unsub: 2, post: 2 });

    const key = await publishedKey();
    const verdict = async (m: string) =>
      (
        await dkimVerify(Buffer.from(m, 'latin1'), {
          resolver: async (name: string, type: string) => {
            if (type === 'TXT' && name === `key1._domainkey.${s.domain}`) return [[key]];
            throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
          },
        })
      ).results[0].status.result;
    const text = raw.toString('latin1');
    expect(await verdict(text)).toBe('pass');
    const fromAt = text.indexOf('\r\nFrom:') + 2;
    expect(await verdict(`${text.slice(0, fromAt)}From: Bank <security@bank.test>\r\n${text.slice(fromAt)}`)).toBe('fail');
    const end = text.indexOf('\r\n\r\n') + 2;
    expect(await verdict(`${text.slice(0, end)}Subject: Urgent: verify your account\r\n${text.slice(end)}`)).toBe('fail');
  });
});

describe('DKIM on bodies with bare carriage returns', () => {
  it('signs a body as it goes on the wire: a bare CR (which the wire ends with LF) or CRLF pairs doubled still verify', async () => {
    const bodies = ['line one\rline two', 'line one\r\r\nline two', 'a\r'];
    const res = await Promise.all(
      bodies.map((PlainContent, i) => send(basic({ Subject: `Bare CR ${i}`, ContentType: 'plain', HTMLContent: undefined, PlainContent }))),
    );
    for (const r of res) expect(r.status).toBe(200);
    await waitFor(
      async () => (await Promise.all(res.map((r) => deliveriesOf(r.body.MessageID)))).flat().every((d) => d.status === 'delivered'),
      15000,
      'deliveries',
    );
    const key = await publishedKey();
    for (const i of bodies.keys()) {
      const raw = sink.received.find((r) => r.raw.toString().includes(`Subject: Bare CR ${i}`))!.raw;
      expect({ body: i, verdict: (await dkimVerdict(raw, s.domain, key)).result }).toEqual({ body: i, verdict: 'pass' });
    }
  });
});

describe('sender-key lookups cached for a moment (SENDER_AUTH_CACHE_MS)', () => {
  let c: Harness;
  beforeAll(async () => {
    c = await startHarness({ SENDER_AUTH_CACHE_MS: '60000' });
  });
  afterAll(async () => {
    await c.close();
  });

  it('forgets a revoked key at once in the process that revoked it', async () => {
    const k = await senderSetup(c);
    const ok = await c.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${k.key}` } });
    expect(ok.status).toBe(200);
    const del = await c.call({ Command: 'emailgateway.deleteapi', SessionID: k.sessionId, APIKeyID: k.keyId });
    expect(del.Success).toBe(true);
    const after = await c.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${k.key}` } });
    expect(after.status).toBe(200);
    expect(after.body.Errors[0].Code).toBe(13);
  });
});

describe('a sender domain whose DKIM key cannot sign', () => {
  const NOT_A_KEY = '-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n';

  /** Stores `keyEnc` as a new domain's DKIM key, sends one message from it and waits for its deferral. */
  async function deferredWith(keyEnc: (enc: Buffer) => string): Promise<{ domain: string; reply: string; subject: string }> {
    const other = await senderSetup(h);
    await h.services
      .db('sender_domains')
      .where({ id: other.domainId })
      .update({ dkim_private_key_enc: keyEnc(h.services.config.encryptionKey!) });
    const subject = `Unsigned? ${other.domain}`;
    const res = await send(basic({ Subject: subject, From: { name: 'Ops', email: `ops@${other.domain}` } }), other.key);
    expect(res.status).toBe(200);
    const id = res.body.MessageID;
    await waitFor(async () => (await deliveriesOf(id)).every((d: { status: string }) => d.status === 'deferred'), 15000, 'deferral');
    const [d] = await deliveriesOf(id);
    return { domain: other.domain, reply: d.last_reply, subject };
  }

  it('defers the delivery with a reply that names the key, and sends nothing unsigned', async () => {
    const r = await deferredWith((enc) => encrypt(NOT_A_KEY, enc));
    expect(r.reply).toMatch(new RegExp(`DKIM signing failed: the DKIM key of ${r.domain.replace(/\./g, '\\.')} \\(selector key1\\) could not sign`));
    expect(sink.received.some((m) => m.raw.toString().includes(r.subject))).toBe(false);
  });

  it('defers with a reply that names ENCRYPTION_KEY when the stored key was encrypted with another one', async () => {
    const r = await deferredWith(() => encrypt(NOT_A_KEY, Buffer.alloc(32, 7)));
    expect(r.reply).toBe(`DKIM signing failed: the DKIM key of ${r.domain} cannot be decrypted; check ENCRYPTION_KEY`);
    expect(sink.received.some((m) => m.raw.toString().includes(r.subject))).toBe(false);
  });
});
