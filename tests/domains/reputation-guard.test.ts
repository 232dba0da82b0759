import { createReputationGuard, ReputationGuard } from '../../src/domains/reputation-guard';
import { hourOf } from '../../src/stats/rollups';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { addDomain, createUser, markRecordsVerified, senderSetup, uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { roomInTheHour } from '../helpers/same-hour';
import { smtpError, waitFor } from '../helpers/sink';
import { Receiver, startReceiver } from '../webhooks/receiver';

// The reputation guard end to end: mail sent through the v1 door to a sink that refuses some recipients, the bounces
// recorded by the real delivery worker, the guard's pass, the domain.suspended webhook sent by the real webhook
// worker, and the admin's emailgateway.setdomainstatus over /api.php.

let rig: RelayRig;
let rx: Receiver;
let hooks: WebhookWorker;
let guard: ReputationGuard;

beforeAll(async () => {
  rx = await startReceiver();
  rig = await startRelayRig({ REPUTATION_MIN_MESSAGES: '10', REPUTATION_SUSPEND_BOUNCE_PERCENT: '20', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50' });
  // bad…: the address does not exist (a hard bounce); blk…: the sending IP is on a blocklist (says nothing of the list).
  rig.sink.onRcpt = (address) =>
    address.startsWith('bad')
      ? smtpError(550, '5.1.1 No such user')
      : address.startsWith('blk')
        ? smtpError(550, '5.7.1 Service unavailable; client host [127.0.0.1] blocked using zen.spamhaus.org')
        : undefined;
  hooks = startWebhookWorker(rig.h.services);
  guard = createReputationGuard(rig.h.services, { timer: false });
}, 60000);
afterAll(async () => {
  await guard.stop();
  await hooks.stop();
  await rig.close();
  await rx.stop();
}, 60000);

type Sender = Awaited<ReturnType<typeof senderSetup>>;

/** How many of the domain's deliveries are in one of `statuses`. */
const deliveriesIn = (domainId: number, statuses: string[]) =>
  rig.h.services
    .db('deliveries')
    .join('messages', 'messages.id', 'deliveries.message_id')
    .where('messages.domain_id', domainId)
    .whereIn('deliveries.status', statuses)
    .count({ n: '*' })
    .then(([{ n }]) => Number(n));
/** The domain's bounces (any class) in its hourly rollups. */
const bouncesOf = (domainId: number) =>
  rig.h.services
    .db('stats_rollup')
    .where({ domain_id: domainId, unit: 'h', type: 'bounced' })
    .sum({ c: 'count' })
    .then((rows) => Number(rows[0].c ?? 0));
/** Waits until the domain has `outcomes` delivered or bounced deliveries and `bounces` bounces in its rollups. */
async function outcomesCounted(domainId: number, outcomes: number, bounces: number) {
  await waitFor(async () => (await deliveriesIn(domainId, ['delivered', 'bounced'])) >= outcomes, 30000, 'every outcome');
  // The rollups are written with each event; wait for the last bounce's to be counted.
  await waitFor(async () => (await bouncesOf(domainId)) >= bounces);
}
/** `good` addresses the sink takes and `bad` ones it refuses as unknown (or as `prefix` says). */
function mix(good: number, bad: number, prefix = 'bad', suffix = '') {
  const tag = Math.random().toString(36).slice(2, 8) + suffix;
  return [...Array.from({ length: good }, (_, i) => `ok${i}-${tag}@dest.test`), ...Array.from({ length: bad }, (_, i) => `${prefix}${i}-${tag}@dest.test`)];
}

/** Sends `good` and `bad` messages from the sender and waits until every one has its outcome (and earlier ones'). */
async function sendMix(s: Sender, good: number, bad: number, prefix = 'bad') {
  const [outcomesBefore, bouncesBefore] = [await deliveriesIn(s.domainId, ['delivered', 'bounced']), await bouncesOf(s.domainId)];
  const to = mix(good, bad, prefix);
  await sendBatch(s, to);
  await outcomesCounted(s.domainId, outcomesBefore + to.length, bouncesBefore + bad);
}

/** One message to each address, accepted through the v1 door. */
async function sendBatch(s: Sender, to: string[]) {
  const res = await rig.h.request('POST', '/api/v1/email/batch', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Messages: to.map((address) => ({
        From: { email: `app@${s.domain}` },
        To: [{ email: address }],
        Subject: 'Hi',
        ContentType: 'html',
        HTMLContent: '<p>Hello</p>',
        PlainContent: 'Hello',
      })),
    },
  });
  expect(res.body.Accepted).toBe(to.length);
}

const admin = (params: Record<string, unknown>) => rig.h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: rig.h.adminKey, ...params });
/** The error code of a failed /api.php reply (a validation failure answers a list, a command's own error one code). */
const codeOf = (r: { Success: boolean; ErrorCode: number | number[] }) => (r.Success ? null : [r.ErrorCode].flat()[0]);
const status = async (id: number) => (await rig.h.services.db('sender_domains').where({ id }).first('status')).status as string;
const send = (s: Sender) =>
  rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      From: { email: `app@${s.domain}` },
      To: [{ email: 'later@dest.test' }],
      Subject: 'Hi',
      ContentType: 'html',
      HTMLContent: '<p>Hello</p>',
      PlainContent: 'Hello',
    },
  });

const recordsVerified = (id: number) => markRecordsVerified(rig.h, id);

describe('the reputation guard', () => {
  it('suspends a domain whose bounce rate passes the limit, once, with a domain.suspended webhook, and its sends are refused', async () => {
    const s = await senderSetup(rig.h);
    const hook = await rig.h.call({
      Command: 'emailgateway.addwebhook',
      SessionID: s.sessionId,
      DomainID: s.domainId,
      Event: 'domain.suspended',
      WebhookURL: rx.url(`/susp-${s.domainId}`),
    });
    expect(hook).toMatchObject({ Success: true });
    // A domain under the limit (2 of 12 bounced: 16.7 %), one with too few outcomes to judge (3 of 4), and one whose
    // refusals blame the sending IP, not its list (a blocklist: 6 of 12) stay Enabled.
    const under = await senderSetup(rig.h);
    const few = await senderSetup(rig.h);
    const blocked = await senderSetup(rig.h);
    await sendMix(under, 10, 2);
    await sendMix(few, 1, 3);
    await sendMix(blocked, 6, 6, 'blk');
    await sendMix(s, 9, 3); // 25 %

    const first = await guard.runOnce();
    expect(first.suspended).toEqual([s.domainId]);
    expect(await status(s.domainId)).toBe('Suspended');
    expect(await status(under.domainId)).toBe('Enabled');
    expect(await status(few.domainId)).toBe('Enabled');
    expect(await status(blocked.domainId)).toBe('Enabled');
    const events = await rig.h.services.db('domain_events').where({ domain_id: s.domainId, type: 'domain.suspended' });
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0].data)).toMatchObject({
      reason: 'bounce_rate',
      outcomes: 12,
      hard_bounced: 3,
      bounce_rate: 25,
      bounce_limit: 20,
      window_hours: 24,
    });

    await waitFor(() => rx.hits.some((x) => x.path === `/susp-${s.domainId}`), 10000, 'the domain.suspended webhook');
    const body = JSON.parse(rx.hits.find((x) => x.path === `/susp-${s.domainId}`)!.body);
    expect(JSON.stringify(body)).toContain('domain.suspended');
    expect(JSON.stringify(body)).toContain(s.domain);

    // A second pass changes nothing.
    expect((await guard.runOnce()).suspended).toEqual([]);
    expect(await rig.h.services.db('domain_events').where({ domain_id: s.domainId, type: 'domain.suspended' })).toHaveLength(1);

    // The owner cannot lift it, and new mail is refused with code 32 saying why.
    const own = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Enabled' });
    expect(await status(s.domainId)).toBe('Suspended');
    expect(own.Success === false || own.SenderDomain?.Status === 'Suspended').toBe(true);
    const refused = await send(s);
    expect(refused.status).toBe(200); // Octeth answers a refused send with 200 and its Errors
    expect(refused.body.MessageID).toBeUndefined();
    expect(refused.body.Errors[0]).toMatchObject({ Code: 32 });
    expect(refused.body.Errors[0].Message).toContain('suspended');
  }, 90000);

  it('counts complaints against deliveries, at least 25 of them: 0.6 % suspends at the default 0.5 %, 20 complaints do not', async () => {
    const s = await senderSetup(rig.h);
    const few = await senderSetup(rig.h);
    const bucket = hourOf(Date.now());
    await rig.h.services.db('stats_rollup').insert([
      { domain_id: s.domainId, unit: 'h', bucket, type: 'delivered', count: 5000, unique_count: 0 },
      { domain_id: s.domainId, unit: 'h', bucket: bucket - 23, type: 'complained', count: 30, unique_count: 0 },
      // Outside the 24-hour window: not counted.
      { domain_id: s.domainId, unit: 'h', bucket: bucket - 24, type: 'bounced', count: 900, unique_count: 0 },
      { domain_id: s.domainId, unit: 'h', bucket: bucket - 24, type: 'bounced_hard', count: 900, unique_count: 0 },
      // 2 % complaints, but only 20: anyone who received a message can send a complaint about it.
      { domain_id: few.domainId, unit: 'h', bucket, type: 'delivered', count: 1000, unique_count: 0 },
      { domain_id: few.domainId, unit: 'h', bucket, type: 'complained', count: 20, unique_count: 0 },
    ]);
    const r = await guard.runOnce();
    expect(r.suspended).toEqual([s.domainId]);
    expect(await status(few.domainId)).toBe('Enabled');
    const [e] = await rig.h.services.db('domain_events').where({ domain_id: s.domainId, type: 'domain.suspended' });
    expect(JSON.parse(e.data)).toMatchObject({ reason: 'complaint_rate', outcomes: 5000, complained: 30, complaint_rate: 0.6, hard_bounced: 0 });
    await rig.h.services.db('stats_rollup').where({ domain_id: few.domainId }).delete();
  });

  it('suspends nobody when many domains pass a limit at once (the installation, not its senders), and says so', async () => {
    const many = await Promise.all([1, 2, 3].map(() => senderSetup(rig.h)));
    const bucket = hourOf(Date.now());
    await rig.h.services.db('stats_rollup').insert(
      many.flatMap((m) => [
        { domain_id: m.domainId, unit: 'h', bucket, type: 'delivered', count: 50, unique_count: 0 },
        { domain_id: m.domainId, unit: 'h', bucket, type: 'bounced', count: 50, unique_count: 0 },
        { domain_id: m.domainId, unit: 'h', bucket, type: 'bounced_hard', count: 50, unique_count: 0 },
      ]),
    );
    const stops = async () =>
      Number(/^postern_reputation_passes_total\{result="mass_stop"\} (\d+)$/m.exec((await rig.h.request('GET', '/metrics')).text)?.[1] ?? 0);
    const before = await stops();
    const r = await guard.runOnce();
    expect(r.suspended).toEqual([]);
    expect(r.held.sort()).toEqual(many.map((m) => m.domainId).sort());
    // Counted, so an operator can alert on it (the log says which domains).
    expect(await stops()).toBe(before + 1);
    for (const m of many) expect(await status(m.domainId)).toBe('Enabled');
    await rig.h.services
      .db('stats_rollup')
      .whereIn(
        'domain_id',
        many.map((m) => m.domainId),
      )
      .delete();
  });

  it('lets only the admin lift a suspension: Approval Pending until the records verify, then counted afresh', async () => {
    const s = await senderSetup(rig.h);
    await sendMix(s, 6, 6);
    expect((await guard.runOnce()).suspended).toContain(s.domainId);

    // Not an admin: refused.
    const asUser = await rig.h.call({ Command: 'emailgateway.setdomainstatus', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Enabled' });
    expect(asUser.Success).toBe(false);
    expect(await status(s.domainId)).toBe('Suspended');

    // The records never passed a check (senderSetup enables the row directly): back to Approval Pending.
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({
      Success: true,
      DomainID: s.domainId,
      Status: 'Approval Pending',
      Changed: true,
    });
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Status: 'Suspended', Changed: true });
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Status: 'Suspended', Changed: false });
    await recordsVerified(s.domainId);
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Success: true, Status: 'Enabled', Changed: true });
    const kinds = (await rig.h.services.db('domain_events').where({ domain_id: s.domainId }).orderBy('id').select('type', 'data')).map(
      (e: { type: string; data: string }) => `${e.type}:${JSON.parse(e.data).reason ?? JSON.parse(e.data).status}`,
    );
    expect(kinds).toEqual(['domain.suspended:bounce_rate', 'domain.unsuspended:Approval Pending', 'domain.suspended:admin', 'domain.unsuspended:Enabled']);

    // The hours that caused the suspension are not counted again: the next pass leaves it Enabled, and it sends.
    expect((await guard.runOnce()).suspended).not.toContain(s.domainId);
    expect(await status(s.domainId)).toBe('Enabled');
    const sent = await send(s);
    expect(sent.body.Errors).toBeUndefined();
    expect(sent.body.MessageID).toEqual(expect.any(String));
  }, 90000);

  it("counts the released backlog's outcomes from the lift on, in the lift's own hour, and not those before it", async () => {
    await roomInTheHour(60);
    const s = await senderSetup(rig.h);
    await recordsVerified(s.domainId);
    // The backlog: 12 messages the destination defers until the test says (8 it then takes, 4 unknown: 33 %).
    let deferring = true;
    const refuse = rig.sink.onRcpt;
    rig.sink.onRcpt = (a, from) => (deferring && a.includes('-held@') ? smtpError(451, '4.3.0 Try again later') : refuse?.(a, from));
    try {
      await sendBatch(s, mix(8, 4, 'bad', '-held'));
      await waitFor(
        async () => {
          const [{ n }] = await rig.h.services
            .db('deliveries')
            .join('messages', 'messages.id', 'deliveries.message_id')
            .where('messages.domain_id', s.domainId)
            .where('deliveries.attempts', '>=', 1)
            .count({ n: '*' });
          return Number(n) === 12;
        },
        15000,
        'the backlog deferred once',
      );
      // The outcomes that cause the suspension: 6 of 12 unknown (50 %).
      await sendMix(s, 6, 6);
      expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
      await waitFor(async () => (await deliveriesIn(s.domainId, ['held'])) === 12, 15000, 'the backlog held');

      // Lifted: the backlog is released (and deferred again for now). The hour's outcomes from before the lift
      // alone do not suspend it again.
      expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Status: 'Enabled', ReleasedDeliveries: 12 });
      expect((await guard.runOnce()).suspended).toEqual([]);
      expect(await status(s.domainId)).toBe('Enabled');

      // The backlog goes out in the same hour: its outcomes alone are over the limit.
      deferring = false;
      await outcomesCounted(s.domainId, 24, 10);
      expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
      const events = await rig.h.services.db('domain_events').where({ domain_id: s.domainId, type: 'domain.suspended' }).orderBy('id');
      expect(events).toHaveLength(2);
      expect(JSON.parse(events[1].data)).toMatchObject({ reason: 'bounce_rate', scope: 'domain', outcomes: 12, hard_bounced: 4, delivered: 8 });
    } finally {
      rig.sink.onRcpt = refuse;
    }
  }, 120000);

  it("gives back an owner's Disabled when the admin lifts a suspension made over it", async () => {
    const s = await senderSetup(rig.h);
    await recordsVerified(s.domainId);
    const off = await rig.h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Disabled' });
    expect(off.SenderDomain.Status).toBe('Disabled');
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Status: 'Suspended', Changed: true });
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Success: true, Status: 'Disabled', Changed: true });
    expect(await status(s.domainId)).toBe('Disabled');
  });

  it('answers the admin command errors in the /api.php envelope', async () => {
    const u = await createUser(rig.h);
    const id = await addDomain(rig.h, u.sessionId, `pending-${Date.now()}.test`);
    expect(codeOf(await admin({ Status: 'Enabled' }))).toBe(1);
    expect(codeOf(await admin({ DomainID: 99999999, Status: 'Enabled' }))).toBe(2);
    expect(codeOf(await admin({ DomainID: 'x', Status: 'Suspended' }))).toBe(2);
    expect(codeOf(await admin({ DomainID: id, Status: 'Disabled' }))).toBe(3);
    expect(codeOf(await admin({ DomainID: id, Status: 'Enabled' }))).toBe(4);
    expect(await status(id)).toBe('Approval Pending');
  });
});

describe('the reputation guard, by account', () => {
  const bucket = () => hourOf(Date.now());
  /** One more Enabled domain of the sender's account. */
  async function another(s: Sender): Promise<number> {
    const id = await addDomain(rig.h, s.sessionId, uniqueDomain('acct'));
    await rig.h.services.db('sender_domains').where({ id }).update({ status: 'Enabled' });
    return id;
  }
  /** An hour of figures for the domain: delivered, and hard bounces. */
  const figures = (domainId: number, delivered: number, hard: number) =>
    rig.h.services.db('stats_rollup').insert([
      { domain_id: domainId, unit: 'h', bucket: bucket(), type: 'delivered', count: delivered, unique_count: 0 },
      { domain_id: domainId, unit: 'h', bucket: bucket(), type: 'bounced', count: hard, unique_count: 0 },
      { domain_id: domainId, unit: 'h', bucket: bucket(), type: 'bounced_hard', count: hard, unique_count: 0 },
    ]);
  /** More of this hour's figures for the domain (added into its rows). */
  const more = async (domainId: number, delivered: number, hard: number) => {
    for (const [type, n] of [
      ['delivered', delivered],
      ['bounced', hard],
      ['bounced_hard', hard],
    ] as const)
      await rig.h.services.db('stats_rollup').where({ domain_id: domainId, unit: 'h', bucket: bucket(), type }).increment('count', n);
  };
  const suspension = async (domainId: number) => {
    const e = await rig.h.services.db('domain_events').where({ domain_id: domainId, type: 'domain.suspended' }).first('data');
    return e ? JSON.parse(e.data) : undefined;
  };

  it("adds up an account's domains: a bad list spread thin is caught, a good domain beside a bad one is not", async () => {
    // Each under the minimum of 10 outcomes alone; together 16 outcomes with 6 hard bounces (37.5 %).
    const spread = await senderSetup(rig.h);
    const spread2 = await another(spread);
    await figures(spread.domainId, 5, 3);
    await figures(spread2, 5, 3);
    // 9 outcomes with 4 hard bounces alone, but 109 with 4 (3.7 %) with its sibling: under the limit.
    const mixed = await senderSetup(rig.h);
    const mixed2 = await another(mixed);
    await figures(mixed.domainId, 5, 4);
    await figures(mixed2, 100, 0);

    const r = await guard.runOnce();
    expect(r.suspended.sort()).toEqual([spread.domainId, spread2].sort());
    for (const id of [spread.domainId, spread2]) {
      expect(await status(id)).toBe('Suspended');
      expect(await suspension(id)).toMatchObject({
        reason: 'bounce_rate',
        scope: 'account',
        account_domains: 2,
        outcomes: 16,
        hard_bounced: 6,
        bounce_rate: 37.5,
      });
    }
    expect(await status(mixed.domainId)).toBe('Enabled');
    expect(await status(mixed2)).toBe('Enabled');
  });

  it('suspends a domain added after a suspension while the account is still over', async () => {
    const s = await senderSetup(rig.h);
    await figures(s.domainId, 6, 6);
    expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
    expect(await suspension(s.domainId)).toMatchObject({ scope: 'domain' });
    const fresh = await another(s);
    expect((await guard.runOnce()).suspended).toEqual([fresh]);
    expect(await suspension(fresh)).toMatchObject({ reason: 'bounce_rate', scope: 'account', outcomes: 12, hard_bounced: 6 });
    // Once the admin lifts the first, its hours no longer count: the new domain can be lifted and stays Enabled.
    await recordsVerified(s.domainId);
    await recordsVerified(fresh);
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Status: 'Enabled' });
    expect(await admin({ DomainID: fresh, Status: 'Enabled' })).toMatchObject({ Status: 'Enabled' });
    expect((await guard.runOnce()).suspended).toEqual([]);
    expect(await status(fresh)).toBe('Enabled');
  });

  it('leaves a domain the admin lifted on its own lifted, its bad sibling still suspended', async () => {
    // The bad one over on its own (12 outcomes, 5 hard: 42 %), the clean one on the account's (18, 5: 28 %).
    const s = await senderSetup(rig.h);
    const clean = await another(s);
    await figures(s.domainId, 7, 5);
    await figures(clean, 6, 0);
    expect((await guard.runOnce()).suspended.sort()).toEqual([s.domainId, clean].sort());
    expect(await suspension(clean)).toMatchObject({ scope: 'account', outcomes: 18 });
    await recordsVerified(clean);
    expect(await admin({ DomainID: clean, Status: 'Enabled' })).toMatchObject({ Status: 'Enabled' });
    // The sibling's hours before the lift no longer count against the lifted domain.
    expect((await guard.runOnce()).suspended).toEqual([]);
    expect(await status(clean)).toBe('Enabled');
    expect(await status(s.domainId)).toBe('Suspended');
  });

  it("counts a lifted domain's outcomes after the lift, in the lift's hour, for its sibling's verdict", async () => {
    await roomInTheHour(30);
    // The bad one over on its own (12 outcomes, 6 hard: 50 %); its sibling under the limit with it (32, 6: 18.75 %).
    const s = await senderSetup(rig.h);
    const sibling = await another(s);
    await figures(s.domainId, 6, 6);
    await figures(sibling, 20, 0);
    expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
    await recordsVerified(s.domainId);
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Status: 'Enabled' });
    // The lift's hour as it was at the lift: nobody is over.
    expect((await guard.runOnce()).suspended).toEqual([]);

    // After the lift, in the same hour: 3 delivered and 6 hard bounces, under the minimum of 10 alone, but the
    // account is over with them (29 outcomes, 6 hard: 20.7 %), not with the hour's earlier ones counted again.
    await more(s.domainId, 3, 6);
    expect((await guard.runOnce()).suspended).toEqual([sibling]);
    expect(await suspension(sibling)).toMatchObject({ reason: 'bounce_rate', scope: 'account', account_domains: 2, outcomes: 29, hard_bounced: 6 });
  }, 90000); // roomInTheHour may wait up to 30 s first

  it('counts the mass stop in accounts: one tenant with three bad domains is suspended, not taken for the installation', async () => {
    const s = await senderSetup(rig.h);
    const ids = [s.domainId, await another(s), await another(s)];
    for (const id of ids) await figures(id, 6, 6);
    const r = await guard.runOnce();
    expect(r.held).toEqual([]);
    expect(r.suspended.sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await suspension(id)).toMatchObject({ scope: 'domain' });
  });
});
