import { RelayRig, startRelayRig } from '../helpers/rig';
import { senderSetup } from '../helpers/harness';
import { holdRcpt, waitFor } from '../helpers/sink';
import { isMysql } from '../../src/db';

/**
 * The lease writes only its stamp (src/delivery/leased.ts): the stored status stays 'queued' while the worker talks to
 * the recipient's server, and every reader still answers 'sending' (a leased delivery): the message lookup, Octeth's
 * getmessage and message log, queue.list's `leased` state and queue.status. A cancel passes it by. The settle then
 * writes the outcome.
 */
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(() => rig.close());

it('answers sending for a delivery whose lease is on, while its stored status stays queued', async () => {
  const { h, s, sink } = rig;
  const to = 'leased@recipient.test';
  const { held, release, restore } = holdRcpt(sink, to);
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'leased', ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
    });
    expect(res.status).toBe(200);
    const id: string = res.body.MessageID;
    await waitFor(held, 15_000, 'the RCPT held at the sink');

    const stored = await h.services.db('deliveries').where({ message_id: id }).first('status', 'lease_until', 'lease_owner');
    expect(stored.status).toBe('queued');
    expect(Number(stored.lease_until)).toBeGreaterThan(Date.now());
    expect(stored.lease_owner).not.toBe('');

    const shown = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(shown.body).toMatchObject({ Status: 'sending', Recipients: [{ Email: to, Status: 'sending', NextAttemptAt: null }] });
    const legacy = await h.call({ Command: 'emailgateway.getmessage', SenderAPIKey: s.key, MessageID: id });
    expect(legacy).toMatchObject({ Success: true, Status: 'sending' });
    const log = await h.call({ Command: 'emailgateway.getmessagelog', SessionID: s.sessionId, Status: 'sending' });
    expect(log).toMatchObject({ Success: true, Messages: expect.any(Array) });
    expect(log.Messages.map((m: { MessageID: string; Status: string }) => [m.MessageID, m.Status])).toEqual([[id, 'sending']]);
    const queued = await h.call({ Command: 'emailgateway.getmessagelog', SessionID: s.sessionId, Status: 'queued' });
    expect(queued.Messages).toEqual([]);
    // The message's own status in SQL (the platform's status filter reads it): sending, not queued.
    const byStatus = async (MessageStatus: string) =>
      ((await h.call({ Command: 'emailgateway.getmessages', SenderAPIKey: s.key, MessageStatus })).Emails as { MessageID: string; Status: string }[]).map(
        (m) => [m.MessageID, m.Status],
      );
    expect(await byStatus('sending')).toEqual([[id, 'sending']]);
    expect(await byStatus('queued')).toEqual([]);

    const leased = await h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'leased' } });
    expect(leased.body).toMatchObject({ Total: 1, Deliveries: [{ MessageID: id, State: 'leased' }] });
    const waiting = await h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'queued' } });
    expect(waiting.body.Total).toBe(0);
    const depth = await h.call({ Command: 'queue.status', AdminAPIKey: h.adminKey });
    expect(depth.Queue).toMatchObject({ Leased: 1, Queued: 0 });

    // Being sent: a cancel cannot take it (its outcome decides).
    await h.call({ Command: 'emailgateway.cancelqueuedmessage', SessionID: s.sessionId, MessageID: id });
    expect((await h.services.db('deliveries').where({ message_id: id }).first('status')).status).toBe('queued');

    release();
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first('status')).status === 'delivered', 15_000, 'delivered');
    const after = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(after.body).toMatchObject({ Status: 'delivered', Recipients: [{ Status: 'delivered' }] });
  } finally {
    restore();
  }
});

it('leaves a delivery being sent to its worker: queue.hold, retry and purge pass it by, and its outcome is recorded once', async () => {
  const { h, s, sink } = rig;
  const to = 'in-flight@recipient.test';
  const { held, release, restore } = holdRcpt(sink, to);
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'in flight', ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
    });
    const id: string = res.body.MessageID;
    await waitFor(held, 15_000, 'the RCPT held at the sink');
    const { id: deliveryId } = await h.services.db('deliveries').where({ message_id: id }).first('id');
    // Its stored status is a waiting one (queued): only its stamp tells these apart from what they may take.
    const control = async (what: string) =>
      (await h.request('POST', `/api/v1/queue/${what}`, { body: { SessionID: s.sessionId, DeliveryID: deliveryId } })).body;
    expect(await control('hold')).toEqual({ Held: 0 });
    expect(await control('retry')).toEqual({ Retried: 0 });
    expect(await control('purge')).toEqual({ Purged: 0 });
    expect(await h.services.db('deliveries').where({ id: deliveryId }).first('status', 'held_by')).toEqual({ status: 'queued', held_by: null });

    release();
    await waitFor(async () => (await h.services.db('deliveries').where({ id: deliveryId }).first('status')).status === 'delivered', 15_000, 'delivered');
    const events = await h.services.db('events').where({ delivery_id: deliveryId }).orderBy('id').pluck('type');
    expect(events).toEqual(['queued', 'delivered']);
  } finally {
    restore();
  }
});

it("lists a sending message and the leased queue from the leased deliveries' index, not from every waiting one of the account's", async () => {
  const { h, s, sink } = rig;
  const send = async (to: string, extra: Record<string, unknown> = {}) =>
    (
      await h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${s.key}` },
        body: { Subject: 'x', ContentType: 'plain', PlainContent: 'x', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }], ...extra },
      })
    ).body.MessageID as string;
  // Waiting, unleased: scheduled for an hour from now.
  const waiting = 20;
  for (let i = 0; i < waiting; i++) await send(`later-${i}@recipient.test`, { SendAt: Math.floor(Date.now() / 1000) + 3600 });
  const to = 'candidate@recipient.test';
  const { held, restore } = holdRcpt(sink, to);
  const db = h.services.db;
  /** The statements that read the account's deliveries while `door` runs (not the worker's and sweeper's meanwhile). */
  const statementsOf = async <T>(door: () => Promise<T>) => {
    const statements: { sql: string; bindings: (string | number)[] }[] = [];
    const seen = (q: { sql: string; bindings: (string | number)[] }) => void (/`deliveries`\.`user_id` = \?/.test(q.sql) && statements.push(q));
    db.on('query', seen);
    try {
      return { answer: await door(), statements };
    } finally {
      db.off('query', seen);
    }
  };
  /**
   * What each statement read of deliveries: on MariaDB the rows, counted by running it again (ANALYZE); on SQLite
   * whether its plan goes along the stamp's index (20270108000100), scans the table, or searches another index.
   */
  const reads = async (statements: { sql: string; bindings: (string | number)[] }[]) => {
    const counted: (number | string)[] = [];
    for (const q of statements) {
      if (isMysql(db)) {
        const [plan] = (await db.raw(`analyze ${q.sql}`, q.bindings)) as [{ table: string; r_rows: string | null }[]];
        counted.push(plan.filter((r) => r.table === 'deliveries').reduce((n, r) => n + Number(r.r_rows ?? 0), 0));
      } else {
        const plan = JSON.stringify(await db.raw(`explain query plan ${q.sql}`, q.bindings));
        counted.push(plan.includes('deliveries_lease_idx') ? 'stamp' : /SCAN deliveries\b/.test(plan) ? 'scan' : 'other');
      }
    }
    return counted;
  };
  try {
    const id = await send(to);
    await waitFor(held, 15_000, 'the RCPT held at the sink');
    const listed = await statementsOf(() => h.call({ Command: 'emailgateway.getmessages', SenderAPIKey: s.key, MessageStatus: 'sending' }));
    expect(listed.answer).toMatchObject({ Success: true, Total: 1, Emails: [{ MessageID: id, Status: 'sending' }] });
    const queue = await statementsOf(() => h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'leased' } }));
    expect(queue.answer.body).toMatchObject({ Total: 1, Deliveries: [{ MessageID: id, State: 'leased' }] });
    // The filter's candidates (the messages MESSAGE_STATUS_SQL then probes, once each) and the leased queue's count
    // and page are read from the one stamped delivery along the stamp's index, not from the account's 21 waiting
    // ones (a scan of the user's waiting range whose cost follows the backlog: 690-790 ms at 250,000). The queue's
    // second count and page are the rows an earlier release stored as 'sending' with no stamp: none here.
    const candidates = listed.statements.filter((q) => /`candidates`/.test(q.sql));
    expect(candidates.length).toBeGreaterThan(0);
    const stamp = isMysql(db) ? 1 : 'stamp';
    const stored = isMysql(db) ? 0 : 'other';
    expect(await reads(candidates)).toEqual(candidates.map(() => stamp));
    expect(await reads(queue.statements)).toEqual([stamp, stored, stamp, stored]);
  } finally {
    restore();
  }
});

it("lists as leased a stamped waiting row and a row an earlier release stored as 'sending' (stamped or not), in one order, page by page", async () => {
  const { h } = rig;
  const s = await senderSetup(h);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++)
    ids.push(
      (
        await h.request('POST', '/api/v1/email', {
          headers: { Authorization: `Bearer ${s.key}` },
          body: {
            Subject: 'x',
            ContentType: 'plain',
            PlainContent: 'x',
            From: { name: '', email: `app@${s.domain}` },
            To: [{ name: '', email: `m${i}@recipient.test` }],
            SendAt: Math.floor(Date.now() / 1000) + 3600,
          },
        })
      ).body.MessageID,
    );
  // Not due for an hour and stamped ten minutes ahead: no worker takes or sweeps them meanwhile.
  const at = Date.now() + 3_600_000;
  const stamp = Date.now() + 600_000;
  const rows: [string, number][] = [
    ['sending', 0], // an earlier release's lease, its stamp gone (not written by any release: read as leased all the same)
    ['queued', stamp], // this release's lease
    ['sending', stamp], // an earlier release's lease
    ['scheduled', stamp], // this release's lease
    ['scheduled', 0], // waiting, not leased
  ];
  for (const [i, [status, lease_until]] of rows.entries())
    await h.services
      .db('deliveries')
      .where({ message_id: ids[i] })
      .update({ status, lease_until, lease_owner: lease_until ? 'elsewhere' : '', next_attempt_at: at + [1, 2, 4, 3, 0][i] });
  const page = async (Page: number) => (await h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'leased', Limit: 2, Page } })).body;
  // In next attempt order, the two reads' rows interleaved: 0 (stored sending), 1 (queued), 3 (scheduled), 2 (stored
  // sending, stamped).
  const first = await page(1);
  expect({ Total: first.Total, Pages: first.Pages }).toEqual({ Total: 4, Pages: 2 });
  expect(first.Deliveries.map((d: { MessageID: string; State: string }) => [d.MessageID, d.State])).toEqual([
    [ids[0], 'leased'],
    [ids[1], 'leased'],
  ]);
  expect((await page(2)).Deliveries.map((d: { MessageID: string; State: string }) => [d.MessageID, d.State])).toEqual([
    [ids[3], 'leased'],
    [ids[2], 'leased'],
  ]);
  const waiting = await h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'scheduled' } });
  expect(waiting.body.Deliveries.map((d: { MessageID: string }) => d.MessageID)).toEqual([ids[4]]);
});
