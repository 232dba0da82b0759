/**
 * Deleting a sender domain keeps its hours in the reputation guard's window for its account's figures
 * (src/domains/retained-hours.ts). Before, they cascaded away with the domain: a tenant could delete a domain about to
 * be suspended and its siblings (or the name added again) escaped the account's verdict.
 */
import { createReputationGuard, ReputationGuard } from '../../src/domains/reputation-guard';
import { HOUR_MS, hourOf } from '../../src/stats/rollups';
import { addDomain, Harness, markRecordsVerified, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
import { roomInTheHour } from '../helpers/same-hour';

let h: Harness;
let guard: ReputationGuard;

beforeAll(async () => {
  h = await startHarness({ REPUTATION_MIN_MESSAGES: '10', REPUTATION_SUSPEND_BOUNCE_PERCENT: '20' });
  guard = createReputationGuard(h.services, { timer: false });
}, 60000);
// Each test's rows and the labels kept() gives them (hours before the current one) must fall in one hour.
beforeEach(() => roomInTheHour(30), 60000);
// Each test's figures are its own: an account an earlier test left over must not be judged again.
afterEach(async () => {
  await h.services.db('stats_rollup').delete();
  await h.services.db('retained_reputation_hours').delete();
});
afterAll(async () => {
  await guard.stop();
  await h.close();
}, 60000);

type Sender = Awaited<ReturnType<typeof senderSetup>>;

/** One more Enabled domain of the sender's account (its name given, or a fresh one). */
async function another(s: Sender, name = uniqueDomain('acct')): Promise<number> {
  const id = await addDomain(h, s.sessionId, name);
  await h.services.db('sender_domains').where({ id }).update({ status: 'Enabled' });
  return id;
}

/** One hour of a domain's figures: delivered, and hard bounces (`hoursAgo` before the current one). */
const figures = (domainId: number, delivered: number, hard: number, hoursAgo = 0) => {
  const bucket = hourOf(Date.now()) - hoursAgo;
  return h.services.db('stats_rollup').insert(
    [
      { domain_id: domainId, unit: 'h', bucket, type: 'delivered', count: delivered, unique_count: 0 },
      { domain_id: domainId, unit: 'h', bucket, type: 'bounced', count: hard, unique_count: 0 },
      { domain_id: domainId, unit: 'h', bucket, type: 'bounced_hard', count: hard, unique_count: 0 },
    ].filter((r) => r.count > 0),
  );
};

async function deleteDomain(s: Sender, domainId: number): Promise<void> {
  expect(await h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: domainId })).toMatchObject({ Success: true });
}

const status = async (id: number) => (await h.services.db('sender_domains').where({ id }).first('status')).status as string;
const suspension = async (domainId: number) => {
  const e = await h.services.db('domain_events').where({ domain_id: domainId, type: 'domain.suspended' }).first('data');
  return e ? JSON.parse(e.data) : undefined;
};
/** The account's kept hours, as `hoursAgo:type=count`. */
async function kept(userId: number): Promise<string[]> {
  const rows = await h.services.db('retained_reputation_hours').where({ user_id: userId }).orderBy(['bucket', 'type']);
  return rows.map((r: { bucket: number; type: string; count: number }) => `${hourOf(Date.now()) - Number(r.bucket)}:${r.type}=${r.count}`);
}

it("suspends the account's remaining domain, and the name added again, on figures that keep the deleted domains' hours", async () => {
  // Two bad domains, each 3 delivered and 3 hard bounces this hour, and a sibling under the limit on its own
  // (16 outcomes, 2 hard: 12.5 %). With the deleted two: 28 outcomes, 8 hard (28.6 %), over 20 %.
  const s = await senderSetup(h);
  const bad2 = await another(s);
  const sibling = await another(s);
  await figures(s.domainId, 3, 3);
  await figures(bad2, 3, 3);
  await figures(sibling, 14, 2);
  await deleteDomain(s, s.domainId);
  await deleteDomain(s, bad2);
  // Added into one row per hour and type (the second deletion's upsert).
  expect(await kept(s.userId)).toEqual(['0:bounced=6', '0:bounced_hard=6', '0:delivered=6']);

  expect((await guard.runOnce()).suspended).toEqual([sibling]);
  expect(await status(sibling)).toBe('Suspended');
  expect(await suspension(sibling)).toMatchObject({ reason: 'bounce_rate', scope: 'account', account_domains: 2, outcomes: 28, hard_bounced: 8 });

  // The name added again (Enabled once verified) is judged on the same figures: its sibling's and the kept hours.
  const again = await another(s, s.domain);
  expect((await guard.runOnce()).suspended).toEqual([again]);
  expect(await suspension(again)).toMatchObject({ scope: 'account', account_domains: 3, outcomes: 28, hard_bounced: 8 });
});

it("keeps no hour from before the deleted domain's last lift: its sibling stays Enabled", async () => {
  // The same account as above, but the bad hours (3 hours ago) were forgiven by a lift 2 hours ago: only the clean
  // hour after it is kept, and the sibling's 22 outcomes with 2 hard bounces (9 %) are under the limit.
  const s = await senderSetup(h);
  const sibling = await another(s);
  await figures(s.domainId, 6, 6, 3);
  await figures(s.domainId, 6, 0);
  await figures(sibling, 14, 2);
  await h.services
    .db('sender_domains')
    .where({ id: s.domainId })
    .update({ reputation_from: (hourOf(Date.now()) - 2) * HOUR_MS + 1 });
  await deleteDomain(s, s.domainId);
  expect(await kept(s.userId)).toEqual(['0:delivered=6']);

  expect((await guard.runOnce()).suspended).toEqual([]);
  expect(await status(sibling)).toBe('Enabled');
});

it("keeps the lift's hour net of what it held at the lift: the outcomes after it, not those that caused the suspension", async () => {
  await roomInTheHour(30);
  const s = await senderSetup(h);
  await figures(s.domainId, 6, 6);
  expect((await guard.runOnce()).suspended).toEqual([s.domainId]);
  await markRecordsVerified(h, s.domainId);
  expect(await h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: h.adminKey, DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({
    Status: 'Enabled',
  });
  // After the lift, in the same hour: 4 more delivered, 1 more hard bounce.
  for (const [type, n] of [
    ['delivered', 4],
    ['bounced', 1],
    ['bounced_hard', 1],
  ] as const)
    await h.services
      .db('stats_rollup')
      .where({ domain_id: s.domainId, unit: 'h', bucket: hourOf(Date.now()), type })
      .increment('count', n);
  await deleteDomain(s, s.domainId);
  expect(await kept(s.userId)).toEqual(['0:bounced=1', '0:bounced_hard=1', '0:delivered=4']);
}, 90000); // roomInTheHour may wait up to 30 s first

it('prunes kept hours once they leave the window; deleting the account removes the rest', async () => {
  const s = await senderSetup(h);
  await figures(s.domainId, 5, 1, 20);
  await figures(s.domainId, 5, 0, 2);
  await deleteDomain(s, s.domainId);
  expect(await kept(s.userId)).toEqual(['20:bounced=1', '20:bounced_hard=1', '20:delivered=5', '2:delivered=5']);

  // A pass now keeps both hours; one 5 hours on (hour 20 ago out of the 24-hour window) prunes the older.
  await guard.runOnce();
  expect(await kept(s.userId)).toHaveLength(4);
  await guard.runOnce(Date.now() + 5 * HOUR_MS);
  expect(await kept(s.userId)).toEqual(['2:delivered=5']);

  expect(await h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, UserID: s.userId })).toMatchObject({ Success: true });
  expect(await kept(s.userId)).toEqual([]);
});

it("drops the account's kept hours past the window at its next deletion, with no guard pass to prune them", async () => {
  const s = await senderSetup(h);
  const sibling = await another(s);
  // An hour kept a day and more ago (the guard off, say: no pass pruned it) and one still in the window.
  await h.services.db('retained_reputation_hours').insert([
    { user_id: s.userId, bucket: hourOf(Date.now()) - 30, type: 'delivered', count: 7 },
    { user_id: s.userId, bucket: hourOf(Date.now()) - 3, type: 'delivered', count: 2 },
  ]);
  await figures(sibling, 4, 0);
  await deleteDomain(s, sibling);
  expect(await kept(s.userId)).toEqual(['3:delivered=2', '0:delivered=4']);
});
