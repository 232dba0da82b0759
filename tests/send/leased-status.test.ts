import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
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
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  sink.rcptWait = (a) => {
    if (a !== to) return undefined;
    held = true;
    return released;
  };
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'leased', ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
    });
    expect(res.status).toBe(200);
    const id: string = res.body.MessageID;
    await waitFor(() => held, 15_000, 'the RCPT held at the sink');

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
    sink.rcptWait = undefined;
    release();
  }
});

it('leaves a delivery being sent to its worker: queue.hold, retry and purge pass it by, and its outcome is recorded once', async () => {
  const { h, s, sink } = rig;
  const to = 'in-flight@recipient.test';
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  sink.rcptWait = (a) => (a === to ? ((held = true), released) : undefined);
  try {
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'in flight', ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
    });
    const id: string = res.body.MessageID;
    await waitFor(() => held, 15_000, 'the RCPT held at the sink');
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
    sink.rcptWait = undefined;
    release();
  }
});

it("lists a sending message from its leased deliveries, not from every waiting one of the account's", async () => {
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
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  sink.rcptWait = (a) => (a === to ? ((held = true), released) : undefined);
  const statements: { sql: string; bindings: unknown[] }[] = [];
  const seen = (q: { sql: string; bindings: unknown[] }) => void (/`candidates`/.test(q.sql) && statements.push(q));
  try {
    const id = await send(to);
    await waitFor(() => held, 15_000, 'the RCPT held at the sink');
    h.services.db.on('query', seen);
    const listed = await h.call({ Command: 'emailgateway.getmessages', SenderAPIKey: s.key, MessageStatus: 'sending' });
    h.services.db.off('query', seen);
    expect(listed).toMatchObject({ Success: true, Total: 1, Emails: [{ MessageID: id, Status: 'sending' }] });
    // The messages the filter probes (MESSAGE_STATUS_SQL, once each) are its candidates: the one with a leased
    // delivery, not the 20 scheduled. Counted by MariaDB running each statement again (ANALYZE: the rows the read of
    // deliveries passed on, of those it read).
    expect(statements.length).toBeGreaterThan(0);
    if (isMysql(h.services.db)) {
      for (const q of statements) {
        const [plan] = (await h.services.db.raw(`analyze ${q.sql}`, q.bindings as (string | number)[])) as [
          { select_type: string; table: string; r_rows: string; r_filtered: string }[],
        ];
        const read = plan.find((r) => r.select_type === 'DERIVED' && r.table === 'deliveries')!;
        expect({ read: Number(read.r_rows), candidates: Math.round((Number(read.r_rows) * Number(read.r_filtered)) / 100) }).toEqual({
          read: waiting + 1,
          candidates: 1,
        });
      }
    }
  } finally {
    h.services.db.off('query', seen);
    sink.rcptWait = undefined;
    release();
  }
});
