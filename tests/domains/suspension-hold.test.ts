import { createReputationGuard, ReputationGuard } from '../../src/domains/reputation-guard';
import { hourOf } from '../../src/stats/rollups';
import { markRecordsVerified, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { rigMail } from '../helpers/rig-mail';
import { smtpError, waitFor } from '../helpers/sink';

// A suspended domain's queued mail waits for the lift: sent through the v1 door to a sink, held by the admin's
// emailgateway.setdomainstatus (and by the reputation guard) over /api.php, by the real delivery worker for a delivery
// that was in flight, kept held against the tenant's queue.release, and delivered once the admin lifts the suspension.

let rig: RelayRig;
let guard: ReputationGuard;
/** Opens the RCPT of the delivery the test keeps in flight across the suspension. */
let openGate: () => void = () => undefined;

beforeAll(async () => {
  rig = await startRelayRig();
  guard = createReputationGuard(rig.h.services, { timer: false });
}, 60000);
afterAll(async () => {
  openGate();
  await guard.stop();
  await rig.close();
}, 60000);

const { send, deliveryOf, until } = rigMail(() => rig);
const admin = (params: Record<string, unknown>) => rig.h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: rig.h.adminKey, ...params });
const rcpts = (address: string) => rig.sink.received.filter((m) => m.to.includes(address)).length;

const recordsVerified = (id: number) => markRecordsVerified(rig.h, id);

describe("a suspension holds the domain's queue", () => {
  it('holds what waits and what was in flight, keeps it from queue.release, and lets it all go at the lift', async () => {
    const s = await senderSetup(rig.h);
    await recordsVerified(s.domainId);
    const tag = Math.random().toString(36).slice(2, 8);
    const soft = `soft-${tag}@dest.test`;
    const slow = `slow-${tag}@dest.test`;
    const mine = `mine-${tag}@dest.test`;
    const later = `later-${tag}@dest.test`;
    // The destination defers these two for now; `slow`'s first RCPT waits until the test opens it.
    let deferring = true;
    const tries = new Map<string, number>();
    rig.sink.onRcpt = (a) => {
      tries.set(a, (tries.get(a) ?? 0) + 1);
      return deferring && (a === soft || a === slow) ? smtpError(451, '4.3.0 Try again later') : undefined;
    };
    let gateReached = false;
    const gate = new Promise<void>((r) => (openGate = r));
    rig.sink.rcptWait = (a) => (a === slow && !gateReached ? ((gateReached = true), gate) : undefined);

    const softId = await send(s, soft);
    const slowId = await send(s, slow);
    const tomorrow = Math.floor(Date.now() / 1000) + 86400;
    const mineId = await send(s, mine, { SendAt: tomorrow });
    const laterId = await send(s, later, { SendAt: tomorrow });
    // The tenant holds one of its own deliveries first: an operator's hold, which the lift must leave alone.
    const holdMine = async () =>
      (await rig.h.request('POST', '/api/v1/queue/hold', { body: { SessionID: s.sessionId, DeliveryID: (await deliveryOf(mineId)).id } })).body;
    expect(await holdMine()).toEqual({ Held: 1 });
    await until(softId, (d) => d.attempts >= 1, 'soft deferred once');
    await waitFor(() => gateReached, 15000, 'slow in its RCPT');

    const suspended = await admin({ DomainID: s.domainId, Status: 'Suspended' });
    expect(suspended).toMatchObject({ Success: true, Status: 'Suspended', Changed: true });
    // The scheduled one for sure; `soft` unless a worker held its lease at that instant.
    expect(suspended.HeldDeliveries).toBeGreaterThanOrEqual(1);
    expect(await deliveryOf(laterId)).toMatchObject({ status: 'held', held_from: 'scheduled', held_by: 'suspension' });

    // `slow` was in flight: deferred by the sink, then held by the worker at its next lease instead of sent.
    openGate();
    await until(slowId, (d) => d.status === 'held', 'slow held by the worker');
    await until(softId, (d) => d.status === 'held', 'soft held');
    for (const id of [slowId, softId]) expect(await deliveryOf(id)).toMatchObject({ held_by: 'suspension', held_from: 'deferred', lease_until: 0 });
    // One RCPT for `slow`: the one in flight when the domain was suspended.
    expect(tries.get(slow)).toBe(1);
    const softTries = tries.get(soft);
    await new Promise((r) => setTimeout(r, 1500)); // more than a retry step and a sweep: nothing moves
    expect(await deliveryOf(slowId)).toMatchObject({ status: 'held', attempts: 1 });
    expect([tries.get(slow), tries.get(soft)]).toEqual([1, softTries]);

    // The tenant cannot let them go; its own hold it can, and queue.list says which is which.
    const listed = await rig.h.request('GET', '/api/v1/queue', { query: { SessionID: s.sessionId, State: 'held' } });
    const heldBy = Object.fromEntries(listed.body.Deliveries.map((d: { Recipient: string; HeldBy: string }) => [d.Recipient, d.HeldBy]));
    expect(heldBy).toEqual({ [soft]: 'suspension', [slow]: 'suspension', [later]: 'suspension', [mine]: 'queue' });
    const released = await rig.h.request('POST', '/api/v1/queue/release', { body: { SessionID: s.sessionId, All: true } });
    expect(released.body).toEqual({ Released: 1 });
    expect(await deliveryOf(mineId)).toMatchObject({ status: 'scheduled' });
    expect(await holdMine()).toEqual({ Held: 1 });
    const adminRelease = await rig.h.request('POST', '/api/v1/queue/release', {
      headers: { Authorization: `Bearer ${rig.h.adminKey}` },
      body: { SenderDomain: s.domain },
    });
    expect(adminRelease.body).toEqual({ Released: 1 });
    expect(await holdMine()).toEqual({ Held: 1 });

    // The lift: every held delivery waits again, the due ones are delivered, the scheduled one keeps its time.
    deferring = false;
    const lifted = await admin({ DomainID: s.domainId, Status: 'Enabled' });
    expect(lifted).toMatchObject({ Success: true, Status: 'Enabled', Changed: true, ReleasedDeliveries: 3 });
    for (const [id, to] of [
      [softId, soft],
      [slowId, slow],
    ]) {
      await until(id, (d) => d.status === 'delivered', `${to} delivered after the lift`);
      expect(rcpts(to)).toBe(1);
    }
    const sched = await deliveryOf(laterId);
    expect(sched).toMatchObject({ status: 'scheduled', held_by: null, held_from: null });
    expect(Number(sched.held_ms)).toBeGreaterThan(0);
    expect(await deliveryOf(mineId)).toMatchObject({ status: 'held', held_from: 'scheduled', held_by: null });
    const events = await rig.h.services.db('domain_events').where({ domain_id: s.domainId }).orderBy('id').select('type', 'data');
    expect(events.map((e: { type: string; data: string }) => [e.type, JSON.parse(e.data)])).toEqual([
      ['domain.suspended', expect.objectContaining({ reason: 'admin', held_deliveries: suspended.HeldDeliveries })],
      ['domain.unsuspended', expect.objectContaining({ status: 'Enabled', released_deliveries: 3 })],
    ]);
  }, 90000);

  it("holds the queue when the reputation guard suspends, and leaves other domains' queues alone", async () => {
    const s = await senderSetup(rig.h);
    const other = await senderSetup(rig.h);
    const sendAt = Math.floor(Date.now() / 1000) + 86400;
    const mine = await send(s, `sched-${s.domainId}@dest.test`, { SendAt: sendAt });
    const theirs = await send(other, `sched-${other.domainId}@dest.test`, { SendAt: sendAt });
    const bucket = hourOf(Date.now());
    await rig.h.services.db('stats_rollup').insert([
      { domain_id: s.domainId, unit: 'h', bucket, type: 'delivered', count: 5000, unique_count: 0 },
      { domain_id: s.domainId, unit: 'h', bucket, type: 'complained', count: 40, unique_count: 0 },
    ]);
    expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
    expect(await deliveryOf(mine)).toMatchObject({ status: 'held', held_from: 'scheduled', held_by: 'suspension' });
    expect(await deliveryOf(theirs)).toMatchObject({ status: 'scheduled', held_by: null });
    const [e] = await rig.h.services.db('domain_events').where({ domain_id: s.domainId, type: 'domain.suspended' });
    expect(JSON.parse(e.data)).toMatchObject({ reason: 'complaint_rate', held_deliveries: 1 });
    await rig.h.services.db('stats_rollup').where({ domain_id: s.domainId }).delete();
  });

  it('has the sweeper release holds left behind by a lift, and a cancel clear the hold', async () => {
    const s = await senderSetup(rig.h);
    const tomorrow = Math.floor(Date.now() / 1000) + 86400;
    const orphan = await send(s, `orphan-${s.domainId}@dest.test`, { SendAt: tomorrow });
    const gone = await send(s, `gone-${s.domainId}@dest.test`, { SendAt: tomorrow });
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ HeldDeliveries: 2 });
    // The tenant cancels one of them: a cancelled row keeps no hold.
    const cancelled = await rig.h.request('DELETE', `/api/v1/email/${gone}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(cancelled.status).toBe(200);
    expect(await deliveryOf(gone)).toMatchObject({ status: 'cancelled', held_by: null, held_from: null, held_at: null });
    // What a lift can miss (a worker's hold committed after the lift read the held rows, under READ COMMITTED or on a
    // cluster; a lift whose process died before it enqueued): the domain Enabled, its row still held for it.
    await rig.h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Enabled' });
    expect(await deliveryOf(orphan)).toMatchObject({ status: 'held', held_by: 'suspension' });
    await rig.worker.sweep(0);
    expect(await deliveryOf(orphan)).toMatchObject({ status: 'scheduled', held_by: null, held_from: null });
  });

  it('refuses the owner a delete of a suspended domain (a delete and re-add would start it afresh), until the lift', async () => {
    const s = await senderSetup(rig.h);
    await recordsVerified(s.domainId);
    const queued = await send(s, `kept-${s.domainId}@dest.test`, { SendAt: Math.floor(Date.now() / 1000) + 86400 });
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Changed: true });
    const legacy = await rig.h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId });
    expect(legacy).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(String(legacy.ErrorText ?? legacy.ErrorMessage ?? JSON.stringify(legacy))).toContain('suspended');
    const v1 = await rig.h.request('DELETE', '/api/v1/user.senderdomain', { query: { SessionID: s.sessionId, DomainID: s.domainId } });
    expect(JSON.stringify(v1.body)).toContain('suspended');
    // Nothing went: the domain, its queue and its figures are still there.
    expect(await rig.h.services.db('sender_domains').where({ id: s.domainId }).first('status')).toEqual({ status: 'Suspended' });
    expect(await deliveryOf(queued)).toMatchObject({ status: 'held', held_by: 'suspension' });
    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Success: true, Status: 'Enabled' });
    expect(await rig.h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({ Success: true });
    expect(await rig.h.services.db('sender_domains').where({ id: s.domainId }).first()).toBeUndefined();
  });
});
