import crypto from 'node:crypto';
import net from 'node:net';
import { domainToASCII } from 'node:url';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { groupCommitStats } from '../../src/mail/accept-group';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { addDomain, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { Sink, startSink, waitFor } from '../helpers/sink';
import { authPlain, SmtpTalk } from '../helpers/smtp-talk';

let h: Harness;
let sink: Sink;
let worker: DeliveryWorker;
let front: SmtpFront;
let s: Awaited<ReturnType<typeof senderSetup>>;
let user: string;
let pass: string;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    SMTP_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    SMTP_MAX_MESSAGE_BYTES: '20000',
    SMTP_MAX_RECIPIENTS: '3',
    // Some tests change a domain behind the API's back (as another process would) and expect the next AUTH to
    // see it: no reuse of verified credentials here (tests/smtp/auth-cache.test.ts covers the cache).
    SENDER_AUTH_CACHE_MS: '0',
  });
  worker = createDeliveryWorker(h.services);
  front = await startSmtpFront(h.services);
  s = await senderSetup(h);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  user = c.SMTP.SMTPUsername;
  pass = c.SMTP.SMTPPassword;
});
afterAll(async () => {
  await front.close();
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await sink.close();
});

function client(auth = { user, pass }, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, auth, tls: { rejectUnauthorized: false }, ...extra } as any);
}

describe('SMTP relay front', () => {
  it('relays an authenticated message with Cc, Bcc and custom headers, DKIM-signed, to the next hop', async () => {
    const info = await client().sendMail({
      from: `App <app@${s.domain}>`,
      to: 'to@dest.test',
      cc: 'cc@dest.test',
      bcc: 'bcc@dest.test',
      subject: 'Relayed through SMTP',
      text: 'hello over smtp',
      headers: {
        'X-Order-Id': '42',
        // Receivers' verdicts a client cannot speak for (the API refuses them too), and the client's own trace line.
        'Authentication-Results': 'mx.google.test; dkim=pass header.d=bank.test',
        'ARC-Seal': 'i=1; a=rsa-sha256; d=google.test; s=x; cv=none; b=abc',
        'X-Postern-Delivery': '1',
        'Received-SPF': 'pass (google.test: domain of bank.test designates 192.0.2.1 as permitted sender)',
        Received: 'from app.internal by app.internal; Thu, 3 Dec 2026 05:00:00 +0000',
      },
    });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    const messageId = /queued as (\S+)/.exec(info.response)![1];
    await waitFor(
      async () => (await h.services.db('deliveries').where({ message_id: messageId, status: 'delivered' })).length === 3,
      15000,
      'three deliveries',
    );
    const got = sink.received.filter((r) => r.raw.toString().includes('Subject: Relayed through SMTP'));
    expect(got.flatMap((r) => r.to).sort()).toEqual(['bcc@dest.test', 'cc@dest.test', 'to@dest.test']);
    const mail = await simpleParser(got[0].raw);
    expect(mail.headers.get('x-order-id')).toBe('42');
    expect(mail.cc && 'value' in mail.cc ? mail.cc.value[0].address : '').toBe('cc@dest.test');
    expect(mail.headers.get('bcc')).toBeUndefined();
    expect(['authentication-results', 'arc-seal', 'x-postern-delivery', 'received-spf'].filter((k) => mail.headers.has(k))).toEqual([]);
    expect(String(mail.headers.get('received'))).toContain('from app.internal');
    expect(got[0].raw.toString()).not.toContain('bcc@dest.test');
    const d = await h.call({ Command: 'emailgateway.getdomain', SessionID: s.sessionId, DomainID: s.domainId });
    const key = d.Domain.DNSRecords.find((r: { Purpose: string }) => r.Purpose === 'dkim').Value;
    const v = await dkimVerify(got[0].raw, {
      resolver: async (name: string) =>
        name === `key1._domainkey.${s.domain}` ? [[key]] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' })),
    });
    expect(v.results[0].status.result).toBe('pass');
    const lookup = await h.request('GET', `/api/v1/email/${messageId}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(lookup.body.Status).toBe('delivered');
  });

  it('refuses wrong credentials with 535 5.7.8', async () => {
    await expect(client({ user, pass: 'wrong-password' }).sendMail({ from: `a@${s.domain}`, to: 'x@dest.test', text: 'x' })).rejects.toMatchObject({
      responseCode: 535,
    });
  });

  it('accepts AUTH after STARTTLS', async () => {
    const info = await client({ user, pass }, { requireTLS: true }).sendMail({ from: `a@${s.domain}`, to: 'tls@dest.test', subject: 'over tls', text: 'x' });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
  });

  it("refuses a sender outside the credential's domain with 553 5.7.1", async () => {
    await expect(client().sendMail({ from: 'someone@other.test', to: 'x@dest.test', text: 'x' })).rejects.toMatchObject({
      responseCode: 553,
      response: expect.stringContaining(`5.7.1 Sender address must be on ${s.domain}`),
    });
  });

  it('refuses a From header outside the domain even with a good envelope', async () => {
    await expect(
      client().sendMail({ envelope: { from: `a@${s.domain}`, to: ['x@dest.test'] }, from: 'spoof@other.test', to: 'x@dest.test', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 553 });
  });

  it('refuses a message over the size limit with 552 5.3.4', async () => {
    await expect(client().sendMail({ from: `a@${s.domain}`, to: 'x@dest.test', text: 'y'.repeat(40000) })).rejects.toMatchObject({ responseCode: 552 });
  });

  it('rejects only the suppressed recipient with 550 5.7.1', async () => {
    await h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` }, body: { EmailAddress: 'blocked@dest.test' } });
    const info = await client().sendMail({ from: `a@${s.domain}`, to: ['blocked@dest.test', 'fine@dest.test'], subject: 'partly suppressed', text: 'x' });
    expect(info.rejected).toEqual(['blocked@dest.test']);
    expect(info.accepted).toEqual(['fine@dest.test']);
    expect(String((info.rejectedErrors?.[0] as { response?: string } | undefined)?.response)).toContain('550 5.7.1');
  });

  it("refuses at RCPT the account's and the install's suppressions, not another account's", async () => {
    await h.call({ Command: 'suppression.import', SessionID: s.sessionId, EmailAddresses: ['mine@scoped.test'] });
    await h.services
      .db('suppression_entries')
      .insert({ scope_key: 's', email: 'global@scoped.test', source: 'Administrator', reason: '', created_at: Date.now() });
    const other = await createUser(h);
    await h.call({ Command: 'suppression.import', SessionID: other.sessionId, EmailAddresses: ['theirs@scoped.test'] });
    const info = await client().sendMail({
      from: `a@${s.domain}`,
      to: ['Mine@scoped.test', 'global@scoped.test', 'theirs@scoped.test'],
      subject: 'scoped suppressions',
      text: 'x',
    });
    expect(info.rejected).toEqual(['Mine@scoped.test', 'global@scoped.test']);
    expect(info.accepted).toEqual(['theirs@scoped.test']);
  });

  it('refuses recipients the API refuses (domainless postmaster, IP literals) with 553 5.1.3, and relays to the rest', async () => {
    const { talk } = await SmtpTalk.open(front.ports[0]);
    try {
      expect((await talk.send('EHLO client.test')).code).toBe(250);
      expect((await talk.send(`AUTH PLAIN ${authPlain(user, pass)}`)).code).toBe(235);
      expect((await talk.send(`MAIL FROM:<app@${s.domain}>`)).code).toBe(250);
      for (const bad of ['postmaster', 'Postmaster', 'x@[10.0.0.5]', 'x@[IPv6:::1]']) {
        expect([bad, (await talk.send(`RCPT TO:<${bad}>`)).text]).toEqual([bad, '553 5.1.3 Bad recipient address syntax']);
      }
      expect((await talk.send('RCPT TO:<fine-syntax@dest.test>')).code).toBe(250);
      expect((await talk.send('DATA')).code).toBe(354);
      const done = await talk.send(`From: app@${s.domain}\r\nTo: fine-syntax@dest.test\r\nSubject: syntax\r\n\r\nbody\r\n.`);
      expect(done.text).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
      const id = /queued as (\S+)/.exec(done.text)![1];
      expect((await h.services.db('deliveries').where({ message_id: id })).map((d: { recipient: string }) => d.recipient)).toEqual(['fine-syntax@dest.test']);
    } finally {
      talk.close();
    }
  });

  it('sends for an IDN sender domain, and stores and suppresses IDN recipients in their ASCII (xn--) form', async () => {
    // smtp-server hands the hooks every envelope domain in Unicode; Postern stores domains as ASCII.
    const hex = crypto.randomBytes(4).toString('hex');
    const idnId = await addDomain(h, s.sessionId, `bücher-${hex}.example.com`);
    const idn = domainToASCII(`bücher-${hex}.example.com`);
    expect(idn).toMatch(/^xn--bcher-/);
    expect((await h.services.db('sender_domains').where({ id: idnId }).first()).domain).toBe(idn);
    await h.services.db('sender_domains').where({ id: idnId }).update({ status: 'Enabled' });
    const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: idnId });
    await h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` } });
    await h.call({ Command: 'suppression.import', SessionID: s.sessionId, EmailAddresses: [`gone-${hex}@xn--mller-kva.test`] });
    const { talk } = await SmtpTalk.open(front.ports[0]);
    try {
      expect((await talk.send('EHLO client.test')).code).toBe(250);
      expect((await talk.send(`AUTH PLAIN ${authPlain(c.SMTP.SMTPUsername, c.SMTP.SMTPPassword)}`)).code).toBe(235);
      expect((await talk.send(`MAIL FROM:<app@${idn}>`)).text).toBe('250 Accepted');
      // The suppressed address, as an MTA sends it (ASCII) and as a user types it (Unicode): both refused.
      expect((await talk.send(`RCPT TO:<gone-${hex}@xn--mller-kva.test>`)).text).toMatch(
        /^550 5\.7\.1 Recipient gone-\w+@xn--mller-kva\.test is on the suppression list/,
      );
      expect((await talk.send(`RCPT TO:<gone-${hex}@müller.test>`)).code).toBe(550);
      expect((await talk.send('RCPT TO:<r@müller.test>')).code).toBe(250);
      expect((await talk.send('DATA')).code).toBe(354);
      const done = await talk.send(`From: app@${idn}\r\nTo: r@xn--mller-kva.test\r\nSubject: idn\r\n\r\nbody\r\n.`);
      expect(done.text).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
      const id = /queued as (\S+)/.exec(done.text)![1];
      expect(await h.services.db('deliveries').where({ message_id: id }).select('recipient', 'recipient_domain', 'kind')).toEqual([
        { recipient: 'r@xn--mller-kva.test', recipient_domain: 'xn--mller-kva.test', kind: 'to' },
      ]);
    } finally {
      talk.close();
    }
  });

  it('caps recipients per message with 452 4.5.3', async () => {
    const info = await client().sendMail({ from: `a@${s.domain}`, to: ['r1@dest.test', 'r2@dest.test', 'r3@dest.test', 'r4@dest.test'], text: 'x' });
    expect(info.accepted).toHaveLength(3);
    expect(info.rejected).toEqual(['r4@dest.test']);
  });

  it('answers a domain that is not activated with 550 5.7.1', async () => {
    await h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Approval Pending' });
    try {
      await expect(client().sendMail({ from: `a@${s.domain}`, to: 'x@dest.test', text: 'x' })).rejects.toMatchObject({
        responseCode: 550,
        response: expect.stringContaining('not activated'),
      });
    } finally {
      await h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Enabled' });
    }
  });

  it('speaks plain SMTP on a raw socket: EHLO, AUTH PLAIN, MAIL, RCPT, DATA', async () => {
    const socket = net.connect(front.ports[0], '127.0.0.1');
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (d) => (buffer += d));
    const expectLine = async (re: RegExp) => {
      await waitFor(() => re.test(buffer), 15_000, `reply ${re}`);
      const out = buffer;
      buffer = '';
      return out;
    };
    expect(await expectLine(/^220 .*Postern ESMTP/m)).toBeTruthy();
    socket.write('EHLO client.test\r\n');
    expect(await expectLine(/^250 /m)).toMatch(/AUTH PLAIN LOGIN/);
    socket.write(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}\r\n`);
    await expectLine(/^235 /m);
    socket.write(`MAIL FROM:<raw@${s.domain}>\r\n`);
    await expectLine(/^250 /m);
    socket.write('RCPT TO:<raw@dest.test>\r\n');
    await expectLine(/^250 /m);
    socket.write('DATA\r\n');
    await expectLine(/^354 /m);
    socket.write(`From: raw@${s.domain}\r\nTo: raw@dest.test\r\nSubject: raw socket\r\n\r\nhello\r\n.\r\n`);
    const queued = await expectLine(/^250 .*\r\n/m);
    expect(queued).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}\r\n$/);
    socket.write('QUIT\r\n');
    await expectLine(/^221 /m);
    socket.destroy();
    const id = /queued as (\S+)/.exec(queued)![1];
    const row = await h.services.db('messages').where({ id }).first();
    expect(row).toMatchObject({ source: 'smtp', subject: 'raw socket', from_email: `raw@${s.domain}` });
    expect(Buffer.from(row.mime).toString()).toMatch(/^Date: .*\r\nMessage-ID: <[0-9a-f-]+@/);
  });

  it('names each message with a UUIDv7 of its accept time, each greater than the last (appended to the primary key)', async () => {
    const { talk } = await SmtpTalk.open(front.ports[0]);
    const ids: string[] = [];
    const started = Date.now();
    try {
      expect((await talk.send('EHLO client.test')).code).toBe(250);
      expect((await talk.send(`AUTH PLAIN ${authPlain(user, pass)}`)).code).toBe(235);
      for (let i = 0; i < 3; i += 1) {
        expect((await talk.send(`MAIL FROM:<ids@${s.domain}>`)).code).toBe(250);
        expect((await talk.send('RCPT TO:<ids@dest.test>')).code).toBe(250);
        expect((await talk.send('DATA')).code).toBe(354);
        const r = await talk.send(`From: ids@${s.domain}\r\nTo: ids@dest.test\r\nSubject: ids ${i}\r\n\r\nhello\r\n.`);
        ids.push(/queued as (\S+)/.exec(r.text)![1]);
      }
    } finally {
      talk.close();
    }
    const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(msOf(id)).toBeGreaterThanOrEqual(started);
      expect(msOf(id)).toBeLessThanOrEqual(Date.now());
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    const rows = await h.services.db('messages').whereIn('id', ids).orderBy('id').select('subject');
    expect(rows.map((r: { subject: string }) => r.subject)).toEqual(['ids 0', 'ids 1', 'ids 2']);
  });

  it('lets an address in SMTP_TRUSTED_CLIENTS send as its credential without AUTH', async () => {
    h.services.config.smtpTrustedClients['127.0.0.1'] = user;
    try {
      const info = await nodemailer
        .createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, ignoreTLS: true } as any)
        .sendMail({ from: `app@${s.domain}`, to: 'trusted@dest.test', subject: 'trusted', text: 'x' });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
      await expect(
        nodemailer
          .createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, ignoreTLS: true } as any)
          .sendMail({ from: 'x@other.test', to: 'trusted@dest.test', text: 'x' }),
      ).rejects.toMatchObject({ responseCode: 553 });
    } finally {
      delete h.services.config.smtpTrustedClients['127.0.0.1'];
    }
  });

  it('refuses MAIL FROM before AUTH with 530', async () => {
    await expect(
      nodemailer
        .createTransport({ host: '127.0.0.1', port: front.ports[0], secure: false, ignoreTLS: true } as any)
        .sendMail({ from: `a@${s.domain}`, to: 'x@dest.test', text: 'x' }),
    ).rejects.toMatchObject({ responseCode: 530 });
  });
});

describe('SMTP relay front under rude clients', () => {
  it('keeps serving after clients that hang up at once', async () => {
    for (let i = 0; i < 20; i++) {
      const sock = net.connect(front.ports[0], '127.0.0.1');
      sock.on('error', () => undefined);
      if (i % 2) sock.destroy();
      else sock.once('connect', () => sock.destroy());
    }
    await new Promise((r) => setTimeout(r, 300));
    const info = await client().sendMail({ from: `a@${s.domain}`, to: 'after-rude@dest.test', subject: 'still up', text: 'x' });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
  });
});

describe("SMTP relay front with GROUP_COMMIT_OVERLAP_MS on (the smtp role's 50 ms)", () => {
  let rig: RelayRig;
  let overlapFront: SmtpFront;
  let login: { user: string; pass: string };

  beforeAll(async () => {
    rig = await startRelayRig({ GROUP_COMMIT_OVERLAP_MS: '50', SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
    overlapFront = await startSmtpFront(rig.h.services);
    const c = await rig.h.call({ Command: 'emailgateway.addsmtp', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
    login = { user: c.SMTP.SMTPUsername, pass: c.SMTP.SMTPPassword };
  });
  afterAll(async () => {
    await overlapFront.close();
    await rig.close();
  });

  it('accepts, stores and delivers every one of many messages whose DATA ends at once on separate sessions', async () => {
    // The setting this describe is about: a second accept group (and suppression lookup) waits for the running one.
    expect(rig.h.services.store.groupOverlapMs).toBe(50);
    const before = groupCommitStats(rig.h.services);
    const n = 16;
    const run = Date.now().toString(36);
    const sends = Array.from({ length: n }, (_, i) => ({
      subject: `overlap ${run} #${i}`,
      to: [`o${i}a-${run}@dest.test`, `o${i}b-${run}@dest.test`],
    }));
    // Every session goes as far as DATA first, so the messages' ends arrive within 80 ms (nodemailer's own AUTH and
    // commands per connection would spread them).
    const sessions = await Promise.all(
      sends.map(async (m) => {
        const { talk } = await SmtpTalk.open(overlapFront.ports[0]);
        expect((await talk.send('EHLO client.test')).code).toBe(250);
        expect((await talk.send(`AUTH PLAIN ${authPlain(login.user, login.pass)}`)).code).toBe(235);
        expect((await talk.send(`MAIL FROM:<app@${rig.s.domain}>`)).code).toBe(250);
        for (const to of m.to) expect((await talk.send(`RCPT TO:<${to}>`)).code).toBe(250);
        expect((await talk.send('DATA')).code).toBe(354);
        return talk;
      }),
    );
    // The ends go 5 ms apart: some arrive while a group commits and wait for its end or its 50 ms (how many, timing decides).
    const replies = await Promise.all(
      sessions.map(async (talk, i) => {
        await new Promise((r) => setTimeout(r, 5 * i));
        return talk.send(`From: app@${rig.s.domain}\r\nTo: ${sends[i].to.join(', ')}\r\nSubject: ${sends[i].subject}\r\n\r\nbody ${i}\r\n.`);
      }),
    );
    for (const talk of sessions) talk.close();
    for (const r of replies) expect(r.text).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    const ids = replies.map((r) => /queued as (\S+)/.exec(r.text)![1]);
    expect(new Set(ids).size).toBe(n);
    // Each reply names the message stored with its own subject and recipients.
    const rows = await rig.h.services.db('messages').whereIn('id', ids).select('id', 'subject', 'source');
    const byId = new Map(rows.map((r: { id: string; subject: string; source: string }) => [r.id, r]));
    ids.forEach((id, i) => expect(byId.get(id)).toMatchObject({ subject: sends[i].subject, source: 'smtp' }));
    const deliveries = await rig.h.services.db('deliveries').whereIn('message_id', ids).select('message_id', 'recipient');
    expect(deliveries).toHaveLength(2 * n);
    for (const d of deliveries) expect(sends[ids.indexOf(d.message_id)].to).toContain(d.recipient);
    // Every message went through the accept group commit (how they were grouped depends on timing).
    expect(groupCommitStats(rig.h.services).items - before.items).toBe(n);

    await waitFor(
      async () => (await rig.h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' })).length === 2 * n,
      20000,
      `${2 * n} deliveries`,
    );
    for (const m of sends) {
      const got = rig.sink.received.filter((r) => r.raw.toString().includes(`Subject: ${m.subject}\r\n`));
      expect(got.flatMap((r) => r.to).sort()).toEqual([...m.to].sort());
    }
  });
});
