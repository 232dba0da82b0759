import { ConfigError, loadConfig } from '../../src/config';
import { figuresOf, hourRows, sumFrom, WINDOW_HOURS } from '../../src/domains/reputation-figures';
import { hourOf } from '../../src/stats/rollups';
import { markRecordsVerified, senderSetup } from '../helpers/harness';
import { metric } from '../helpers/prom';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { rigMail } from '../helpers/rig-mail';
import { smtpError, waitFor } from '../helpers/sink';

// Mail held for a sender domain's suspension does not wait for ever: past SUSPENSION_HOLD_MAX (3 s here, 5 days by
// default) the running delivery worker's sweeper fails it, as DELIVERY_MAX_AGE fails a delivery, seen through the v1
// door (the message, its events), with no suppression and nothing the reputation guard counts. An operator's hold
// stays, and mail whose suspension is lifted in time is delivered to the sink.

const HOLD_MAX_MS = 3000;
let rig: RelayRig;
/** Recipients the destination defers (451) for now: the two tests run side by side, each with its own. */
const deferring = new Set<string>();

beforeAll(async () => {
  rig = await startRelayRig({ SUSPENSION_HOLD_MAX_MS: String(HOLD_MAX_MS), SWEEP_INTERVAL_MS: '200', WEBHOOK_ALLOW_PRIVATE: '1' });
  rig.sink.onRcpt = (a) => (deferring.has(a) ? smtpError(451, '4.3.0 Try again later') : undefined);
}, 60000);
afterAll(async () => {
  await rig.close();
}, 60000);

const { send, deliveryOf, until } = rigMail(() => rig);
const setStatus = (domainId: number, Status: string) =>
  rig.h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: rig.h.adminKey, DomainID: domainId, Status });
/** The guard's figures of the domain over its window, as a pass reads them. */
const guardFigures = async (domainId: number) =>
  figuresOf(sumFrom(await hourRows(rig.h.services.db, [domainId], hourOf(Date.now()) - WINDOW_HOURS + 1), () => ({ hour: 0, base: null })));
const heldCount = async (heldBy: string | null) =>
  Number((await rig.h.services.db('deliveries').where({ status: 'held', held_by: heldBy }).count({ n: '*' }))[0].n);

// The two tests run side by side (each is mostly waiting out HOLD_MAX_MS and sweeps): each has its own sender, domain
// and recipient, and the metric check below compares the metric with the counts it reads, whoever's rows they are.
describe('a suspension hold past SUSPENSION_HOLD_MAX', () => {
  it.concurrent(
    "fails the held delivery (message, event), without suppressing the recipient or touching the guard's figures; an operator's hold stays",
    async () => {
      const s = await senderSetup(rig.h);
      await markRecordsVerified(rig.h, s.domainId);
      const tag = Math.random().toString(36).slice(2, 8);
      const reset = `reset-${tag}@dest.test`;
      const parked = `parked-${tag}@dest.test`;
      // A webhook for bounces: an expiry is no bounce, so it must not be called.
      const hook = await rig.h.call({
        Command: 'emailgateway.addwebhook',
        SessionID: s.sessionId,
        DomainID: s.domainId,
        Event: 'bounce',
        WebhookURL: 'http://127.0.0.1:9/hook',
      });
      expect(hook).toMatchObject({ Success: true });
      // The destination defers `reset` (the guard ignores deferrals): it is waiting for a retry when the domain is suspended.
      deferring.add(reset);
      const resetId = await send(s, reset);
      const parkedId = await send(s, parked, { SendAt: Math.floor(Date.now() / 1000) + 86400 });
      // Scheduled for tomorrow and held by the suspension: not late before its SendAt, so its hold does not expire yet.
      const tomorrowId = await send(s, `tomorrow-${tag}@dest.test`, { SendAt: Math.floor(Date.now() / 1000) + 86400 });
      // The tenant holds `parked` itself: an operator's hold, which never expires.
      const held = await rig.h.request('POST', '/api/v1/queue/hold', { body: { SessionID: s.sessionId, DeliveryID: (await deliveryOf(parkedId)).id } });
      expect(held.body).toEqual({ Held: 1 });
      await until(resetId, (d) => d.status === 'deferred' && d.attempts >= 1, 'reset deferred once');
      const figuresBefore = await guardFigures(s.domainId);

      const suspendedAt = Date.now();
      expect(await setStatus(s.domainId, 'Suspended')).toMatchObject({ Success: true, Status: 'Suspended', Changed: true });
      await until(resetId, (d) => d.status === 'held' && d.held_by === 'suspension', 'reset held for the suspension');
      // The metric tells the two kinds of hold apart (its figures are cached for up to 2 s).
      await waitFor(
        async () => {
          const text = (await rig.h.request('GET', '/metrics')).text;
          const [bySuspension, byQueue] = [await heldCount('suspension'), await heldCount(null)];
          return (
            metric(text, 'postern_queue_depth', { state: 'held_suspension' }) === bySuspension &&
            metric(text, 'postern_queue_depth', { state: 'held' }) === byQueue &&
            bySuspension >= 1 &&
            byQueue >= 1
          );
        },
        5000,
        'postern_queue_depth split by who holds',
      );

      // Failed by the sweeper, not before its hold is HOLD_MAX_MS old, and not long after.
      await until(resetId, (d) => d.status === 'failed', 'reset failed after SUSPENSION_HOLD_MAX', 10000);
      const failed = await deliveryOf(resetId);
      expect(Number(failed.finished_at) - suspendedAt).toBeGreaterThanOrEqual(HOLD_MAX_MS);
      expect(failed).toMatchObject({ held_by: null, held_at: null, attempts: 1, bounce_class: null });
      const reason = 'sender domain suspended: held longer than 3 seconds';

      const got = await rig.h.request('GET', `/api/v1/email/${resetId}`, { headers: { Authorization: `Bearer ${s.key}` } });
      expect(got.status).toBe(200);
      expect(got.body.Status).toBe('failed');
      expect(got.body.Recipients).toEqual([expect.objectContaining({ Email: reset, Status: 'failed', LastReply: reason })]);
      const shown = got.body.Recipients[0].Events.map((e: { Event: string }) => e.Event);
      expect(shown[shown.length - 1]).toBe('failed');
      const events = await rig.h.request('GET', '/api/v1/events', {
        headers: { Authorization: `Bearer ${s.key}` },
        query: { MessageID: resetId, Event: 'failed' },
      });
      expect(events.body.Events).toEqual([
        expect.objectContaining({ Event: 'failed', MessageID: resetId, Data: expect.objectContaining({ smtp_reply: reason, suspension_expired: true }) }),
      ]);

      // The recipient did nothing wrong: not suppressed, no bounce webhook, and the guard's figures are as they were.
      expect(await rig.h.services.db('suppressions').where({ domain_id: s.domainId })).toEqual([]);
      expect(await rig.h.services.db('webhook_deliveries').where({ webhook_id: hook.NewWebhookID })).toEqual([]);
      expect(await guardFigures(s.domainId)).toEqual(figuresBefore);

      // Held as long and longer, the operator's hold stays held, and so does the suspension's hold of tomorrow's mail.
      expect(await deliveryOf(parkedId)).toMatchObject({ status: 'held', held_by: null, held_from: 'scheduled' });
      expect(await deliveryOf(tomorrowId)).toMatchObject({ status: 'held', held_by: 'suspension', held_from: 'scheduled' });
      expect(rig.sink.received.some((m) => m.to.includes(reset))).toBe(false);
      deferring.delete(reset);
    },
    60000,
  );

  it.concurrent(
    'delivers mail whose suspension is lifted before the limit, and leaves it delivered',
    async () => {
      const s = await senderSetup(rig.h);
      await markRecordsVerified(rig.h, s.domainId);
      const to = `lifted-${Math.random().toString(36).slice(2, 8)}@dest.test`;
      deferring.add(to);
      const id = await send(s, to);
      await until(id, (d) => d.attempts >= 1, 'deferred once');
      expect(await setStatus(s.domainId, 'Suspended')).toMatchObject({ Success: true, Changed: true });
      await until(id, (d) => d.status === 'held' && d.held_by === 'suspension', 'held for the suspension');
      deferring.delete(to);
      await new Promise((r) => setTimeout(r, HOLD_MAX_MS / 3));
      expect(await setStatus(s.domainId, 'Enabled')).toMatchObject({ Success: true, Status: 'Enabled', Changed: true });
      await until(id, (d) => d.status === 'delivered', 'delivered after the lift');
      expect(rig.sink.received.filter((m) => m.to.includes(to))).toHaveLength(1);
      // Past the time its hold would have expired: still delivered, no failed event.
      await new Promise((r) => setTimeout(r, HOLD_MAX_MS));
      const got = await rig.h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
      expect(got.body.Status).toBe('delivered');
      expect(got.body.Recipients[0].Events.map((e: { Event: string }) => e.Event)).not.toContain('failed');
    },
    60000,
  );
});

describe('SUSPENSION_HOLD_MAX_SECONDS', () => {
  it('defaults to 5 days, takes 1 hour to 30 days, and refuses anything else', () => {
    expect(loadConfig({}).suspensionHoldMaxSeconds).toBe(432000);
    expect(loadConfig({ SUSPENSION_HOLD_MAX_SECONDS: '3600' }).suspensionHoldMaxSeconds).toBe(3600);
    expect(loadConfig({ SUSPENSION_HOLD_MAX_SECONDS: '2592000' }).suspensionHoldMaxSeconds).toBe(2592000);
    expect(() => loadConfig({ SUSPENSION_HOLD_MAX_SECONDS: '3599' })).toThrow(
      new ConfigError('SUSPENSION_HOLD_MAX_SECONDS must be between 3600 and 2592000 (got 3599)'),
    );
    expect(() => loadConfig({ SUSPENSION_HOLD_MAX_SECONDS: '2592001' })).toThrow(ConfigError);
    expect(() => loadConfig({ SUSPENSION_HOLD_MAX_SECONDS: '5d' })).toThrow('SUSPENSION_HOLD_MAX_SECONDS must be a whole number (got "5d")');
    // The millisecond form is the test suite's alone.
    expect(loadConfig({ NODE_ENV: 'test', SUSPENSION_HOLD_MAX_MS: '1500' }).suspensionHoldMaxSeconds).toBe(1.5);
    expect(() => loadConfig({ SUSPENSION_HOLD_MAX_MS: '1500' })).toThrow(
      'SUSPENSION_HOLD_MAX_MS is for the test suite only (NODE_ENV=test); use SUSPENSION_HOLD_MAX_SECONDS',
    );
  });
});
