import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import { groupCommitStats } from '../../src/mail/accept-group';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { backend, Harness, Reply, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { Sink, waitFor } from '../helpers/sink';
import { refuseWith } from '../helpers/refusing-trigger';

/**
 * Group commit: sends that arrive together (API requests, SMTP messages from many sessions) share one
 * transaction and one queue job, and each caller still gets exactly its own answer, rows, events and counts.
 */
let rig: RelayRig;
let h: Harness;
let sink: Sink;
let front: SmtpFront;
let s: RelayRig['s'];
let smtpUser: string;
let smtpPass: string;

beforeAll(async () => {
  rig = await startRelayRig({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', API_RATE_LIMIT_PER_MINUTE: '0' });
  ({ h, sink, s } = rig);
  front = await startSmtpFront(h.services);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  smtpUser = c.SMTP.SMTPUsername;
  smtpPass = c.SMTP.SMTPPassword;
});
afterAll(async () => {
  await front.close();
  await rig.close();
});

const tag = () => crypto.randomBytes(4).toString('hex');
/** An API send on a connection of its own to the app's one listener, as clients arrive in production. */
const post = (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${key}`, ...headers }, body });
const sendApi = (key: string, domain: string, to: string, subject: string) =>
  post(key, {
    Subject: subject,
    ContentType: 'plain',
    PlainContent: `body of ${subject}`,
    From: { name: 'Shop', email: `orders@${domain}` },
    To: [{ name: '', email: to }],
    Tags: ['grouped'],
  });

async function queuedRollup(domainId: number): Promise<number> {
  const rows = await h.services.db('stats_rollup').where({ domain_id: domainId, unit: 'd', type: 'queued' }).sum({ n: 'count' });
  return Number(rows[0].n ?? 0);
}

describe('group commit on the send path', () => {
  it('40 API sends at once: each its own MessageID, delivery, queued event and rollup count, delivered once each', async () => {
    const run = tag();
    const before = groupCommitStats(h.services);
    const queuedBefore = await queuedRollup(s.domainId);
    const subjects = Array.from({ length: 40 }, (_, i) => `grouped api ${run} #${i}`);
    const res = await Promise.all(subjects.map((subj, i) => sendApi(s.key, s.domain, `r${i}-${run}@dest.test`, subj)));
    expect(res.map((r) => r.status)).toEqual(subjects.map(() => 200));
    const ids = res.map((r) => r.body.MessageID as string);
    expect(new Set(ids).size).toBe(40);
    // Each answer names the message that carries its own subject and recipient.
    const rows = await h.services.db('messages').whereIn('id', ids).select('id', 'subject');
    const subjectOf = new Map(rows.map((r: { id: string; subject: string }) => [r.id, r.subject]));
    ids.forEach((id, i) => expect(subjectOf.get(id)).toBe(subjects[i]));
    const deliveries = await h.services.db('deliveries').whereIn('message_id', ids).select('id', 'message_id', 'recipient');
    expect(deliveries).toHaveLength(40);
    for (const d of deliveries) expect(d.recipient).toBe(`r${ids.indexOf(d.message_id)}-${run}@dest.test`);
    const queued = await h.services.db('events').whereIn('message_id', ids).where({ type: 'queued' }).select('delivery_id', 'data');
    expect(queued.map((e: { delivery_id: number }) => Number(e.delivery_id)).sort((a, b) => a - b)).toEqual(
      deliveries.map((d: { id: number }) => Number(d.id)).sort((a, b) => a - b),
    );
    expect(await queuedRollup(s.domainId)).toBe(queuedBefore + 40);
    // They really were written in groups, not one transaction each, though the listener takes one new connection per
    // event-loop turn (on the embedded store the accept group waits a few turns for them: Store.groupGatherMs).
    const after = groupCommitStats(h.services);
    expect(after.items - before.items).toBe(40);
    expect(after.flushes - before.flushes).toBeLessThan(40);

    await waitFor(
      async () => (await h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' })).length === 40,
      20000,
      '40 delivered',
    );
    for (const subj of subjects) expect(sink.received.filter((m) => m.raw.toString().includes(`Subject: ${subj}\r\n`))).toHaveLength(1);
    const delivered = await h.services.db('events').whereIn('message_id', ids).where({ type: 'delivered' }).count({ n: '*' });
    expect(Number(delivered[0].n)).toBe(40);
    const tagRows = await h.services.db('stats_tag_rollup').where({ domain_id: s.domainId, unit: 'd', tag: 'grouped', type: 'delivered' }).sum({ n: 'count' });
    expect(Number(tagRows[0].n)).toBeGreaterThanOrEqual(40);
  });

  it('sends of several recipients each, made at once: every queued event names its own delivery, and each copy is delivered', async () => {
    // On MySQL the accept works the delivery ids out from its INSERT's result (src/mail/write-prepared.ts writeKnownIds):
    // an id off by one would pair an event (or a queue job) with another message's delivery.
    const run = tag();
    // The ids the accept handed the queue, read off every job it adds meanwhile.
    const queue = h.services.queues.queue<{ deliveryId?: number; deliveryIds?: number[] }>('deliveries');
    const addBulk = queue.addBulk.bind(queue);
    const told: number[] = [];
    const spy = jest.spyOn(queue, 'addBulk').mockImplementation((jobs) => {
      for (const j of jobs) told.push(...(j.data.deliveryIds ?? (j.data.deliveryId === undefined ? [] : [j.data.deliveryId])));
      return addBulk(jobs);
    });
    const res = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post(s.key, {
          Subject: `multi ${run} #${i}`,
          ContentType: 'plain',
          PlainContent: `body ${i}`,
          From: { name: 'Shop', email: `orders@${s.domain}` },
          To: Array.from({ length: 1 + (i % 4) }, (_, j) => ({ name: '', email: `m${i}-${j}-${run}@dest.test` })),
          CC: i % 3 ? [] : [{ name: '', email: `c${i}-${run}@dest.test` }],
        }),
      ),
    );
    // Each group's jobs are added before its callers are answered (enqueueDeliveries calls addBulk at once).
    spy.mockRestore();
    expect(res.map((r) => r.status)).toEqual(res.map(() => 200));
    const ids = res.map((r) => r.body.MessageID as string);
    const deliveries = (await h.services.db('deliveries').whereIn('message_id', ids).select('id', 'message_id', 'recipient')) as {
      id: number;
      message_id: string;
      recipient: string;
    }[];
    const expected = ids.flatMap((_, i) => [
      ...Array.from({ length: 1 + (i % 4) }, (_, j) => `m${i}-${j}-${run}@dest.test`),
      ...(i % 3 ? [] : [`c${i}-${run}@dest.test`]),
    ]);
    expect(deliveries.map((d) => d.recipient).sort()).toEqual(expected.sort());
    const byId = new Map(deliveries.map((d) => [Number(d.id), d]));
    const queued = (await h.services.db('events').whereIn('message_id', ids).where({ type: 'queued' }).select('delivery_id', 'message_id', 'data')) as {
      delivery_id: number;
      message_id: string;
      data: string | { recipient: string };
    }[];
    expect(queued).toHaveLength(expected.length);
    for (const e of queued) {
      const d = byId.get(Number(e.delivery_id));
      const data = typeof e.data === 'string' ? (JSON.parse(e.data) as { recipient: string }) : e.data;
      expect({ message: d?.message_id, recipient: d?.recipient }).toEqual({ message: e.message_id, recipient: data.recipient });
    }
    // The accept told the queue these ids (the sweeper would make up for a wrong one, later), and each is sent once.
    expect(deliveries.filter((d) => !told.includes(Number(d.id)))).toEqual([]);
    expect(told.filter((id) => !byId.has(id) && id >= Math.min(...byId.keys()) && id <= Math.max(...byId.keys()))).toEqual([]);
    await waitFor(
      async () => (await h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' })).length === expected.length,
      20000,
      'all delivered',
    );
    for (const r of expected) expect(sink.received.filter((m) => m.to.includes(r))).toHaveLength(1);
  });

  it("sends made at once are checked against the suppression lists in their group's own transaction, and each gets its own answer", async () => {
    const run = tag();
    const blocked = [0, 3, 7].map((i) => `r${i}-${run}@dest.test`);
    for (const email of blocked) {
      const added = await h.call({ Command: 'emailgateway.addsuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: email.toUpperCase() });
      expect(added.Success).toBe(true);
    }
    // Sends 8-11 go to a blocked address and a free one: the free one is delivered, the blocked one recorded.
    const to = (i: number) => (i < 8 ? [`r${i}-${run}@dest.test`] : [blocked[i % 3].toUpperCase(), `r${i}-${run}@dest.test`]);
    const suppressionLookups = h.services.store.batchers.stats('suppression');
    const res = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        post(s.key, {
          Subject: `suppress ${run} #${i}`,
          ContentType: 'plain',
          PlainContent: 'body',
          From: { name: 'Shop', email: `orders@${s.domain}` },
          To: to(i).map((email) => ({ name: '', email })),
        }),
      ),
    );
    for (const [i, r] of res.entries()) {
      if (i < 8 && blocked.includes(to(i)[0])) {
        expect(r.body.Errors).toEqual([{ Code: 14, Message: `Email address is in the suppression list: ${to(i)[0]}` }]);
        continue;
      }
      expect(r.body.MessageID).toEqual(expect.any(String));
      const deliveries = await h.services.db('deliveries').where({ message_id: r.body.MessageID }).pluck('recipient');
      expect(deliveries).toEqual([`r${i}-${run}@dest.test`]);
      const events = await h.services
        .db('events')
        .where({ message_id: r.body.MessageID })
        .whereIn('type', ['queued', 'suppressed'])
        .orderBy('id')
        .select('type', 'data');
      const recorded = events.map((e: { type: string; data: string }) => [e.type, JSON.parse(e.data).recipient]);
      if (i < 8) expect(recorded).toEqual([['queued', `r${i}-${run}@dest.test`]]);
      else
        expect(recorded).toEqual(
          expect.arrayContaining([
            ['queued', `r${i}-${run}@dest.test`],
            ['suppressed', blocked[i % 3].toUpperCase()],
          ]),
        );
    }
    // No lookup stage of their own: the accept groups checked them.
    expect(h.services.store.batchers.stats('suppression').items).toBe(suppressionLookups.items);
  });

  it('an Idempotency-Key send whose group check finds a listed recipient stores the reply it answered: a retry replays it', async () => {
    const run = tag();
    const listed = `listed-${run}@dest.test`;
    expect((await h.call({ Command: 'emailgateway.addsuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: listed })).Success).toBe(true);
    const send = (key: string, to: string[], subject: string) =>
      post(
        s.key,
        {
          Subject: subject,
          ContentType: 'plain',
          PlainContent: 'body',
          From: { name: '', email: `orders@${s.domain}` },
          To: to.map((email) => ({ name: '', email })),
        },
        { 'Idempotency-Key': key },
      );
    // Sent together with others, so that they share a group.
    const [some, none, other] = await Promise.all([
      send(`some-${run}`, [listed, `free-${run}@dest.test`], `some ${run}`),
      send(`none-${run}`, [listed], `none ${run}`),
      sendApi(s.key, s.domain, `other-${run}@dest.test`, `other ${run}`),
    ]);
    expect(some.body.MessageID).toEqual(expect.any(String));
    expect(none.body.Errors).toEqual([{ Code: 14, Message: `Email address is in the suppression list: ${listed}` }]);
    expect(other.body.MessageID).toEqual(expect.any(String));
    expect(await h.services.db('deliveries').where({ message_id: some.body.MessageID }).pluck('recipient')).toEqual([`free-${run}@dest.test`]);
    expect((await send(`some-${run}`, [listed, `free-${run}@dest.test`], `some ${run}`)).body).toEqual(some.body);
    expect((await send(`none-${run}`, [listed], `none ${run}`)).body).toEqual(none.body);
    expect(
      await h.services
        .db('messages')
        .where({ subject: `some ${run}` })
        .count({ n: '*' }),
    ).toEqual([{ n: 1 }]);
  });

  it('a daily limit holds when sends race in one group: exactly the limit is accepted, the rest get code 17', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 5 });
    const run = tag();
    const res = await Promise.all(Array.from({ length: 12 }, (_, i) => sendApi(own.key, own.domain, `q${i}-${run}@dest.test`, `quota ${run} ${i}`)));
    // Business errors on the v1 routes answer HTTP 200 with Errors[], as upstream (§2.1).
    const ok = res.filter((r) => r.body.MessageID);
    const refused = res.filter((r) => r.body.Errors);
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(JSON.stringify(r.body)).toMatch(/17/);
    const counted = await h.services.db('usage_counters').where({ user_id: own.userId }).andWhere('period', 'like', 'd%').first();
    expect(Number(counted.sent)).toBe(5);
    expect(await h.services.db('messages').where({ domain_id: own.domainId })).toHaveLength(5);
  });

  it('a limited account reserves its quota in one statement per limit once its counters exist, and still counts exactly', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 3, LimitEmailSendPerPeriod: 10 });
    const run = tag();
    const counterStatements: string[] = [];
    const spy = (q: { sql: string }) => {
      if (/usage_counters/.test(q.sql)) counterStatements.push(q.sql);
    };
    expect((await sendApi(own.key, own.domain, `first-${run}@dest.test`, `quota ${run} first`)).body.MessageID).toEqual(expect.any(String));
    h.services.db.on('query', spy);
    try {
      expect((await sendApi(own.key, own.domain, `second-${run}@dest.test`, `quota ${run} second`)).body.MessageID).toEqual(expect.any(String));
    } finally {
      h.services.db.off('query', spy);
    }
    // Two limits, counters made by the first send: two conditional updates, no insert.
    expect(counterStatements).toHaveLength(2);
    expect(counterStatements.every((q) => /^update/i.test(q))).toBe(true);
    expect((await sendApi(own.key, own.domain, `third-${run}@dest.test`, `quota ${run} third`)).body.MessageID).toEqual(expect.any(String));
    expect(JSON.stringify((await sendApi(own.key, own.domain, `fourth-${run}@dest.test`, `quota ${run} fourth`)).body.Errors)).toMatch(/17/);
    const counters = await h.services.db('usage_counters').where({ user_id: own.userId }).orderBy('period').select('period', 'sent');
    expect(counters.map((c: { sent: number | string }) => Number(c.sent))).toEqual([3, 3]);
  });

  it('20 SMTP sessions at once: every message gets its own queue id and arrives once, with its own body', async () => {
    const run = tag();
    const n = 20;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        nodemailer
          .createTransport({
            host: '127.0.0.1',
            port: front.ports[0],
            secure: false,
            auth: { user: smtpUser, pass: smtpPass },
            tls: { rejectUnauthorized: false },
          })
          .sendMail({ from: `app@${s.domain}`, to: `smtp${i}-${run}@dest.test`, subject: `smtp grouped ${run} ${i}`, text: `payload ${run} ${i}` }),
      ),
    );
    const ids = results.map((r) => /queued as (\S+)/.exec(r.response)![1]);
    expect(new Set(ids).size).toBe(n);
    await waitFor(
      async () => (await h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' })).length === n,
      20000,
      `${n} delivered`,
    );
    for (let i = 0; i < n; i++) {
      const got = sink.received.filter((m) => m.to.includes(`smtp${i}-${run}@dest.test`));
      expect(got).toHaveLength(1);
      expect(got[0].raw.toString()).toContain(`payload ${run} ${i}`);
    }
  });

  (backend() === 'mysql' ? it : it.skip)(
    'a group held up by a lock does not hold up the next: a second group commits meanwhile, each answered after its own commit',
    async () => {
      const limited = await senderSetup(h, { LimitEmailSendPerDay: 1000 });
      const run = tag();
      // The limited account's day counter exists once it has sent.
      expect((await sendApi(limited.key, limited.domain, `first-${run}@dest.test`, `first ${run}`)).body.MessageID).toEqual(expect.any(String));
      const lock = await h.services.db.transaction();
      let held: Promise<Reply> | undefined;
      try {
        // Another client holds the counter's row: the limited account's next group waits in its quota reservation.
        await lock('usage_counters').where({ user_id: limited.userId }).forUpdate().select('period');
        const before = groupCommitStats(h.services).flushes;
        held = Promise.resolve(sendApi(limited.key, limited.domain, `held-${run}@dest.test`, `held ${run}`));
        let heldDone = false;
        void held.finally(() => (heldDone = true));
        await waitFor(() => groupCommitStats(h.services).flushes > before, 10000, 'the held group to start');
        let limit: NodeJS.Timeout | undefined;
        const other = await Promise.race([
          sendApi(s.key, s.domain, `other-${run}@dest.test`, `other ${run}`),
          new Promise<'waited'>((r) => (limit = setTimeout(() => r('waited'), 2000))),
        ]);
        clearTimeout(limit);
        // Not 'waited': the other account's send was answered while the held group still waited.
        expect(other === 'waited' ? other : { status: other.status, body: other.body }).toEqual({ status: 200, body: { MessageID: expect.any(String) } });
        expect(heldDone).toBe(false);
        // The held send wrote nothing yet: its reply comes after its own commit.
        expect(await h.services.db('messages').where({ subject: `held ${run}` })).toHaveLength(0);
      } finally {
        await lock.rollback();
      }
      const res = await held!;
      expect(res.body.MessageID).toEqual(expect.any(String));
      expect(await h.services.db('messages').where({ id: res.body.MessageID })).toHaveLength(1);
    },
  );

  (backend() === 'mysql' ? it : it.skip)('a message that cannot be written fails alone: the rest of its group is accepted (MySQL trigger)', async () => {
    const run = tag();
    // A trigger fails the INSERT of one message, which would fail the whole group's transaction. (Input no longer
    // gets that far: the front refuses what would not fit, such as a From address over 191 characters.)
    await refuseWith(h.services.db, `poison_${run}`, {
      table: 'messages',
      op: 'INSERT',
      when: `NEW.subject = 'alone ${run} 3'`,
      fault: 'error',
      message: 'poisoned',
    });
    const transport = () =>
      nodemailer.createTransport({
        host: '127.0.0.1',
        port: front.ports[0],
        secure: false,
        auth: { user: smtpUser, pass: smtpPass },
        tls: { rejectUnauthorized: false },
      });
    const sends = Array.from({ length: 8 }, (_, i) =>
      transport()
        .sendMail({
          envelope: { from: `app@${s.domain}`, to: [`fail${i}-${run}@dest.test`] },
          raw: `From: app@${s.domain}\r\nTo: fail${i}-${run}@dest.test\r\nSubject: alone ${run} ${i}\r\n\r\nbody ${i}\r\n`,
        })
        .then(
          (r) => ({ ok: true as const, response: r.response }),
          (e: { responseCode?: number }) => ({ ok: false as const, code: e.responseCode }),
        ),
    );
    const out = await Promise.all(sends);
    expect(out[3]).toEqual({ ok: false, code: 451 });
    out.filter((_, i) => i !== 3).forEach((r) => expect(r.ok).toBe(true));
    const stored = await h.services.db('messages').where('subject', 'like', `alone ${run} %`).select('subject');
    expect(stored.map((m: { subject: string }) => m.subject).sort()).toEqual([0, 1, 2, 4, 5, 6, 7].map((i) => `alone ${run} ${i}`));
  });
});
