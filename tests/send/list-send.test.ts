/**
 * Sending with lists and templates through /api/v1/email: TemplateID content, TargetListID to every subscribed,
 * unsuppressed member (first 250 by email, or the whole list by SubscriberID with SENDEMAIL_FULL_LIST=1), one
 * MessageID per member, each message personalised (checked byte for byte on a few), subscriber values escaped
 * in HTML, and a list send's unsubscribe link unsubscribing the member as well as suppressing the address.
 */
import crypto from 'node:crypto';
import { AddressObject, simpleParser } from 'mailparser';
import { idempotencyHashes } from '../../src/idempotency/keys';
import { makeToken, trackingSecret } from '../../src/tracking/tokens';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { holdTransactions } from '../helpers/hold-transactions';
import { insertSubscriber, parseOctethDate } from '../../src/lists/subscribers';
import { addSubscriber, as, bulkSubscribers, makeField, makeList, Owner, SUBSCRIBED } from '../lists/fixtures';

const BASE = 'http://track.postern.test';
const TEMPLATE_HTML =
  '<p>Hello {{ Subscriber:FirstName|"there" }} from %Subscriber:City%!</p><p>{{{ Subscriber:FirstName }}}</p><p><a href="{{ Link:Unsubscribe }}">Leave</a></p>';
const TEMPLATE_TEXT = 'Hello {{ Subscriber:FirstName|"there" }} ({{ Subscriber:EmailAddress }}). Leave: {{ Link:Unsubscribe }}';

interface Setup {
  rig: RelayRig;
  o: Owner;
  listId: number;
  templateId: number;
  /** Eligible members (subscribed, not suppressed) as [email, subscriberId, firstName]. */
  eligible: [string, number, string][];
}

async function setup(): Promise<Setup> {
  const rig = await startRelayRig({ TRACKING_BASE_URL: BASE });
  const { h, s } = rig;
  const o: Owner = { userId: s.userId, sessionId: s.sessionId };
  const listId = await makeList(h, o);
  const firstName = await makeField(h, o, listId, 'First name', 'FirstName');
  const city = await makeField(h, o, listId, 'City', 'City');
  const eligible: [string, number, string][] = [];
  // 300 members whose emails sort in the reverse of their creation order (so the two orders differ).
  for (let i = 0; i < 300; i++) {
    const email = `m${String(299 - i).padStart(3, '0')}@list.test`;
    const first = i === 292 ? '<b>Bold</b> "&' : i === 291 ? '' : `Name${i}`;
    const status = i % 50 === 3 ? 'Unsubscribed' : 'Subscribed';
    const extra = status === 'Unsubscribed' ? { Status: 'Unsubscribed', UnsubscriptionDate: '2026-02-01 00:00:00', UnsubscriptionIP: '192.0.2.1' } : {};
    // Written as subscriber.create writes a member (its insertSubscriber), but without 300 API calls a setup (a third
    // of this file's CPU); the two members whose values need the API's own handling (markup, an empty name) go through it.
    const id =
      i === 291 || i === 292
        ? await addSubscriber(h, o, listId, email, { CustomFields: { [String(firstName)]: first, [String(city)]: `City${i}` }, ...extra })
        : await member(
            h,
            listId,
            email,
            status,
            new Map([
              [firstName, first],
              [city, `City${i}`],
            ]),
          );
    if (status === 'Subscribed' && i !== 20) eligible.push([email, id, first]);
  }
  // Member 20 is on the sender domain's suppression list.
  const sup = await as(h, o)('emailgateway.addsuppression', { DomainID: s.domainId, EmailAddress: 'm279@list.test' });
  expect(sup.Success).toBe(true);
  const t = await as(h, o)('email.template.create', {
    TemplateName: 'Welcome',
    TemplateSubject: 'Hi {{ Subscriber:FirstName|"there" }}',
    TemplateHTMLContent: TEMPLATE_HTML,
    TemplatePlainContent: TEMPLATE_TEXT,
  });
  expect(t.Success).toBe(true);
  return { rig, o, listId, templateId: t.TemplateID, eligible };
}

/** A member stored the way subscriber.create stores one (the fixtures' SUBSCRIBED, or unsubscribed as above). */
async function member(h: RelayRig['h'], listId: number, email: string, status: string, values: Map<number, string>): Promise<number> {
  const now = Date.now();
  const at = parseOctethDate(status === 'Subscribed' ? SUBSCRIBED.SubscriptionDate : '2026-02-01 00:00:00')!;
  const outcome = await insertSubscriber(
    h.services.db,
    {
      list_id: listId,
      email,
      status,
      subscription_date: status === 'Subscribed' ? at : null,
      subscription_ip: status === 'Subscribed' ? SUBSCRIBED.SubscriptionIP : '',
      unsubscription_date: status === 'Subscribed' ? null : at,
      unsubscription_ip: status === 'Subscribed' ? '' : '192.0.2.1',
      source: 'API',
      created_at: now,
      updated_at: now,
    },
    values,
  );
  if (!('id' in outcome)) throw new Error(`${email} is already on the list`);
  return outcome.id;
}

/**
 * A SendAt a day ahead, for sends whose pages are the subject, not their delivery: the pages are accepted and queued
 * the same way, only for later, so the worker does not deliver thousands of messages nobody checks (a third of this
 * file's CPU when it did).
 */
function tomorrow(): number {
  return Math.floor(Date.now() / 1000) + 86400;
}

/** The body of a send of the template to a list (the setup's, unless named). */
function listSend(st: Setup, listId = st.listId) {
  return { TemplateID: st.templateId, TargetListID: listId, TrackOpens: 'false', From: { name: 'News', email: `news@${st.rig.s.domain}` } };
}

function sendList(st: Setup, extra: Record<string, unknown> = {}) {
  return st.rig.h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${st.rig.s.key}` }, body: { ...listSend(st), ...extra } });
}

async function messagesTo(st: Setup, ids: string[]) {
  // A page of members is accepted as one pending row until a worker or a read of the account's mail expands it.
  if (ids.length) expect((await st.rig.h.request('GET', `/api/v1/email/${ids[0]}`, { headers: { Authorization: `Bearer ${st.rig.s.key}` } })).status).toBe(200);
  const rows = await st.rig.h.services.db('deliveries').whereIn('message_id', ids).select('message_id', 'recipient', 'track_id', 'status');
  return rows as { message_id: string; recipient: string; track_id: string; status: string }[];
}

/**
 * One gateway, list and template for the file: the SENDEMAIL_FULL_LIST block below turns the setting on in the running
 * config (list-send.ts reads it at each send) instead of starting a second gateway and writing a second list of 300.
 */
let st: Setup;
beforeAll(async () => {
  st = await setup();
}, 120000);
afterAll(async () => {
  await st.rig.close();
}, 120000);

/** The setup's eligible members still subscribed and unsuppressed now (a test below unsubscribes one through its link). */
async function stillEligible(): Promise<Setup['eligible']> {
  const db = st.rig.h.services.db;
  const subscribed = new Set(
    (
      await db('subscribers')
        .whereIn(
          'id',
          st.eligible.map((e) => e[1]),
        )
        .where({ status: 'Subscribed' })
        .pluck('id')
    ).map(Number),
  );
  const suppressed = new Set(await db('suppressions').where({ domain_id: st.rig.s.domainId }).pluck('email'));
  return st.eligible.filter(([email, id]) => subscribed.has(id) && !suppressed.has(email));
}

describe('TargetListID, default: the first 250 eligible members by email', () => {
  let ids: string[];
  beforeAll(async () => {
    const res = await sendList(st);
    expect(res.status).toBe(200);
    ids = res.body.MessageID;
    await waitFor(() => st.rig.sink.received.length >= 250, 60000, '250 deliveries');
  }, 120000);

  it('answers 250 MessageIDs, one per member: subscribed and unsuppressed, ordered by email', async () => {
    expect(Array.isArray(ids)).toBe(true);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    const rows = await messagesTo(st, ids);
    const byMessage = new Map(rows.map((r) => [r.message_id, r.recipient]));
    const expected = st.eligible
      .map((e) => e[0])
      .sort()
      .slice(0, 250);
    expect(ids.map((id) => byMessage.get(id))).toEqual(expected);
    expect(expected).not.toContain('m279@list.test'); // suppressed
    expect(expected).not.toContain('m296@list.test'); // unsubscribed (i = 3)
    const got = st.rig.sink.received.map((r) => r.to[0]).sort();
    expect(got).toEqual(expected);
  });

  it('personalises each message exactly, escaping subscriber values in HTML', async () => {
    const secret = trackingSecret(st.rig.h.services.config);
    const rows = await messagesTo(st, ids);
    const check = async (email: string, first: string, city: string, htmlFirst: string) => {
      const row = rows.find((r) => r.recipient === email)!;
      const mail = await simpleParser(st.rig.sink.received.find((r) => r.to[0] === email)!.raw);
      const unsub = `${BASE}/t/u/${makeToken(secret, 'u', row.track_id)}`;
      expect(mail.subject).toBe(`Hi ${first || 'there'}`);
      expect(mail.html).toBe(`<p>Hello ${htmlFirst || 'there'} from ${city}!</p><p>${htmlFirst}</p><p><a href="${unsub}">Leave</a></p>`);
      expect(mail.text?.trim()).toBe(`Hello ${first || 'there'} (${email}). Leave: ${unsub}`);
      expect((mail.to as AddressObject).value[0]).toEqual({ name: first.replace(/[\r\n]/g, ' '), address: email });
      const head = st.rig.sink.received
        .find((r) => r.to[0] === email)!
        .raw.toString()
        .split('\r\n\r\n')[0]
        .replace(/\r\n[ \t]+/g, ' ');
      expect(head).toContain(`List-Unsubscribe: <${unsub}>`);
      expect(head).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    };
    await check('m000@list.test', 'Name299', 'City299', 'Name299');
    await check('m049@list.test', 'Name250', 'City250', 'Name250');
    await check('m007@list.test', '<b>Bold</b> "&', 'City292', '&lt;b&gt;Bold&lt;/b&gt; &quot;&amp;');
    await check('m008@list.test', '', 'City291', '');
  });

  it("records the list and member on each message, and the member's unsubscribe link unsubscribes them", async () => {
    const rows = await messagesTo(st, ids);
    const row = rows.find((r) => r.recipient === 'm250@list.test')!;
    const message = await st.rig.h.services.db('messages').where({ id: row.message_id }).first();
    expect(Number(message.list_id)).toBe(st.listId);
    expect(Number(message.template_id)).toBe(st.templateId);
    const member = st.eligible.find((e) => e[0] === 'm250@list.test')!;
    expect(Number(message.subscriber_id)).toBe(member[1]);

    const secret = trackingSecret(st.rig.h.services.config);
    const res = await st.rig.h.request('POST', `/t/u/${makeToken(secret, 'u', row.track_id)}`, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(200);
    const got = await as(st.rig.h, st.o)('subscriber.get', { ListID: st.listId, SubscriberID: member[1] });
    expect(got.SubscriberInformation.SubscriptionStatus).toBe('Unsubscribed');
    const sup = await st.rig.h.services.db('suppressions').where({ domain_id: st.rig.s.domainId, email: 'm250@list.test' });
    expect(sup.map((r: { reason: string }) => r.reason)).toEqual(['unsubscribe']);
    const ev = await st.rig.h.services.db('events').where({ message_id: row.message_id, type: 'unsubscribed' });
    expect(ev).toHaveLength(1);
  });

  it("answers 16 for another account's list and for a list send with To", async () => {
    const { h } = st.rig;
    const other = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${st.rig.s.key}` },
      body: { TemplateID: st.templateId, TargetListID: st.listId + 1000, From: { name: 'N', email: `news@${st.rig.s.domain}` } },
    });
    expect(other.body.Errors.map((e: { Code: number }) => e.Code)).toEqual([16]);
    const withTo = await sendList(st, { To: [{ name: '', email: 'x@list.test' }] });
    expect(withTo.body.Errors.map((e: { Code: number }) => e.Code)).toEqual([16]);
  });

  it('TemplateID and ListID/SubscriberID personalise a single send; request fields override the template', async () => {
    const member = st.eligible.find((e) => e[0] === 'm299@list.test')!;
    const res = await st.rig.h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${st.rig.s.key}` },
      body: {
        TemplateID: st.templateId,
        ListID: st.listId,
        SubscriberID: member[1],
        Subject: 'Dear {{ Subscriber:FirstName }}',
        TrackOpens: 'false',
        From: { name: 'N', email: `news@${st.rig.s.domain}` },
        To: [{ name: '', email: 'copy@other.test' }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(() => st.rig.sink.received.some((r) => r.to[0] === 'copy@other.test'), 15000, 'the single send');
    const mail = await simpleParser(st.rig.sink.received.find((r) => r.to[0] === 'copy@other.test')!.raw);
    expect(mail.subject).toBe('Dear Name0');
    expect(mail.html).toMatch(/^<p>Hello Name0 from City0!<\/p>/);
    // SubscriberID from a list it is not on → 36; a missing template → 15.
    const wrong = await st.rig.h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${st.rig.s.key}` },
      body: {
        TemplateID: st.templateId + 999,
        ListID: st.listId,
        SubscriberID: 999999,
        From: { name: 'N', email: `news@${st.rig.s.domain}` },
        To: [{ name: '', email: 'copy@other.test' }],
      },
    });
    expect(wrong.body.Errors.map((e: { Code: number }) => e.Code).sort()).toEqual([15, 36]);
  });

  it('records JourneyID and ActionID that resolve; 37/38 for ones that do not', async () => {
    const db = st.rig.h.services.db;
    const [journeyId] = await db('journeys').insert({ user_id: st.rig.s.userId, name: 'Onboarding' });
    const [actionId] = await db('journey_actions').insert({ journey_id: journeyId, name: 'Day 1' });
    const base = {
      Subject: 'J',
      ContentType: 'plain',
      PlainContent: 'x',
      From: { name: 'N', email: `news@${st.rig.s.domain}` },
      To: [{ name: '', email: 'j@other.test' }],
    };
    const ok = await st.rig.h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${st.rig.s.key}` },
      body: { ...base, JourneyID: journeyId, ActionID: actionId },
    });
    expect(ok.status).toBe(200);
    const m = await db('messages').where({ id: ok.body.MessageID }).first();
    expect([Number(m.journey_id), Number(m.action_id)]).toEqual([Number(journeyId), Number(actionId)]);
    const bad = await st.rig.h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${st.rig.s.key}` },
      body: { ...base, JourneyID: Number(journeyId) + 50, ActionID: Number(actionId) + 50 },
    });
    expect(bad.body.Errors.map((e: { Code: number }) => e.Code)).toEqual([37, 38]);
  });
});

describe('TargetListID with SENDEMAIL_FULL_LIST=1: the whole list by SubscriberID', () => {
  beforeAll(() => {
    st.rig.h.services.config.sendEmailFullList = true;
  });

  it('sends to every eligible member, paged 250 at a time, in SubscriberID order', async () => {
    const eligible = await stillEligible();
    const before = st.rig.sink.received.length;
    const res = await sendList(st);
    expect(res.status).toBe(200);
    const ids: string[] = res.body.MessageID;
    expect(ids).toHaveLength(eligible.length);
    expect(eligible.length).toBeGreaterThan(250);
    const rows = await messagesTo(st, ids);
    const byMessage = new Map(rows.map((r) => [r.message_id, r.recipient]));
    const bySubscriberId = [...eligible].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
    expect(ids.map((id) => byMessage.get(id))).toEqual(bySubscriberId);
    // Delivered: the list's mail the sink got since this send (the block above's came before it; its single sends to
    // other addresses may still arrive).
    const sent = () =>
      st.rig.sink.received
        .slice(before)
        .map((r) => r.to[0])
        .filter((to) => to.endsWith('@list.test'));
    await waitFor(() => sent().length >= eligible.length, 60000, 'every delivery');
    expect(sent().sort()).toEqual(eligible.map((e) => e[0]).sort());
  }, 180000);

  it('keeps an Idempotency-Key in progress until the last page is written: a concurrent retry waits, then replays every id', async () => {
    const { h, s } = st.rig;
    const listId = await makeList(h, st.o);
    await bulkSubscribers(h.services.db, listId, 300, 'idem', 'list.test');
    const key = `pages-${crypto.randomUUID()}`;
    const body = { ...listSend(st, listId), SendAt: tomorrow() };
    const send = () => h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}`, 'Idempotency-Key': key }, body });
    const { keyHash } = idempotencyHashes(s.key, 'post /api/v1/email', key, body);
    // Holds every transaction that starts once the first page's reply is stored under the key: the send is then
    // between its two pages.
    const held = holdTransactions(h.services.store, async () => {
      const row = await h.services.db('idempotency_keys').where({ key_hash: keyHash }).first('response');
      return !!row && row.response !== '';
    });
    try {
      const first = send().then((r) => r);
      await held.reached;
      const retry = await send();
      expect(retry.status).toBe(409);
      expect(retry.body.Errors[0].Message).toBe('A request with this Idempotency-Key is still being processed');
      held.open();
      const done = await first;
      expect(done.status).toBe(200);
      expect(done.body.MessageID).toHaveLength(300);
      const again = await send();
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(done.body);
    } finally {
      held.restore();
    }
  }, 60000);

  it('stores the answer under the Idempotency-Key when the last full page is followed by an empty one', async () => {
    const { h, s } = st.rig;
    const listId = await makeList(h, st.o);
    await bulkSubscribers(h.services.db, listId, 250, 'full', 'list.test');
    const key = `full-page-${crypto.randomUUID()}`;
    const body = { ...listSend(st, listId), SendAt: tomorrow() };
    const send = () => h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}`, 'Idempotency-Key': key }, body });
    const first = await send();
    expect(first.body.MessageID).toHaveLength(250);
    const again = await send();
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
  }, 60000);

  it('skips a page whose members were all suppressed after it was read, and sends the next page', async () => {
    const { h, s } = st.rig;
    const listId = await makeList(h, st.o);
    // 250 members (the first page, by SubscriberID) to be refused, then 10 to send to.
    await bulkSubscribers(h.services.db, listId, 250, 'gone', 'skip.test');
    await bulkSubscribers(h.services.db, listId, 10, 'kept', 'skip.test');
    const gone = Array.from({ length: 250 }, (_, i) => `gone${i}@skip.test`);
    // The page is read before its members are suppressed (through the door), just before the send path looks them
    // up: as when they unsubscribe or bounce elsewhere while the send is under way.
    const store = h.services.store;
    const original = store.runTogether;
    let armed = true;
    store.runTogether = async function (this: typeof store, stmts) {
      if (armed && stmts.some((q) => q.toSQL().bindings.includes(gone[0]))) {
        armed = false;
        expect(await as(h, st.o)('suppression.import', { EmailAddresses: gone })).toMatchObject({ Success: true, TotalImported: 250 });
      }
      return original.call(this, stmts);
    };
    try {
      const res = await sendList(st, { TargetListID: listId });
      expect(armed).toBe(false);
      expect(res.status).toBe(200);
      expect(res.body.Errors).toBeUndefined();
      expect(res.body.MessageID).toHaveLength(10);
    } finally {
      store.runTogether = original;
    }
    const to = await h.services
      .db('deliveries')
      .join('messages', 'messages.id', 'deliveries.message_id')
      .where('messages.domain_id', s.domainId)
      .where('deliveries.recipient', 'like', '%@skip.test')
      .pluck('deliveries.recipient');
    expect(to.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `kept${i}@skip.test`).sort());
  }, 60000);

  it('leaves the process answering while it pages: no turn of the event loop takes more than a few pages', async () => {
    const listId = await makeList(st.rig.h, st.o);
    // 20 pages of members, written in bulk: the send is the door.
    await bulkSubscribers(st.rig.h.services.db, listId, 5_000, 'y', 'list.test');
    // The longest gap between ticks of a 5 ms timer while the send runs. On the embedded store a page's queries
    // complete without I/O, so a loop of pages that never yields held the whole process (the API too) to its end.
    let last = Date.now();
    let longest = 0;
    const ticker = setInterval(() => {
      longest = Math.max(longest, Date.now() - last);
      last = Date.now();
    }, 5);
    const started = Date.now();
    const res = await sendList(st, { TargetListID: listId, SendAt: tomorrow() });
    const took = Date.now() - started;
    clearInterval(ticker);
    expect(res.status).toBe(200);
    expect(res.body.MessageID).toHaveLength(5_000);
    expect(longest).toBeLessThan(took / 3);
  }, 120000);
});
