import { createReputationGuard, ReputationGuard } from '../../src/domains/reputation-guard';
import { hourOf } from '../../src/stats/rollups';
import { addDomain, Harness, markRecordsVerified, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
import { atStatement } from '../helpers/at-statement';

// Three races of the reputation guard, each made to happen at one chosen statement (tests/helpers/at-statement.ts):
// - the admin suspends and lifts a domain (emailgateway.setdomainstatus over /api.php) after a pass has read the
//   domain's figures and before it suspends: the pass must not suspend it again;
// - the admin lifts a suspended sibling after a pass has read the account's figures and before it suspends another
//   domain of the account on them: the sibling's hours the lift forgave must not suspend it;
// - a suspension (the guard's or the admin's) commits between the owner's read and the owner's UPDATE in
//   user.senderdomain.update: the owner's update must not lift it (and its other changes still apply).
// The same interleavings run on SQLite: the gate runs its step while the statement waits for its connection, so the
// one embedded connection is free for the other side.

let h: Harness;
let guard: ReputationGuard;

beforeAll(async () => {
  h = await startHarness({ REPUTATION_MIN_MESSAGES: '10', REPUTATION_SUSPEND_BOUNCE_PERCENT: '20' });
  guard = createReputationGuard(h.services, { timer: false });
}, 60000);
// Each test's figures are its own: a domain an earlier test left Enabled must not be judged again in a later pass.
afterEach(async () => {
  await h.services.db('stats_rollup').delete();
});
afterAll(async () => {
  await guard.stop();
  await h.close();
}, 60000);

const admin = (params: Record<string, unknown>) => h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: h.adminKey, ...params });
const row = (id: number) => h.services.db('sender_domains').where({ id }).first();
const eventsOf = async (id: number) =>
  (await h.services.db('domain_events').where({ domain_id: id }).orderBy('id').select('type', 'data')).map(
    (e: { type: string; data: string }) => `${e.type}:${JSON.parse(e.data).reason ?? JSON.parse(e.data).status}`,
  );

const recordsVerified = (id: number) => markRecordsVerified(h, id);

/** This hour's figures of a domain: delivered, and hard bounces. */
async function figures(id: number, delivered: number, hard: number) {
  const bucket = hourOf(Date.now());
  await h.services.db('stats_rollup').insert([
    { domain_id: id, unit: 'h', bucket, type: 'delivered', count: delivered, unique_count: 0 },
    { domain_id: id, unit: 'h', bucket, type: 'bounced', count: hard, unique_count: 0 },
    { domain_id: id, unit: 'h', bucket, type: 'bounced_hard', count: hard, unique_count: 0 },
  ]);
}
/** This hour's figures of a domain over the bounce limit: 10 hard bounces in 40 outcomes (25 % of a 20 % limit). */
const overTheLimit = (id: number) => figures(id, 30, 10);

/** The guard's last read of a pass: the figures of the domains that had a hard bounce or a complaint. */
const figuresRead = (sql: string) => /^select [`"]domain_id[`"], [`"]bucket[`"], [`"]type[`"], [`"]count[`"] from [`"]stats_rollup[`"]/i.test(sql);
/** The owner's UPDATE of the domain (user.senderdomain.update), after its read of the row. */
const ownersUpdate = (id: number) => (sql: string, bindings: unknown[]) => /^update [`"]sender_domains[`"] set/i.test(sql) && bindings.includes(id);

/** One pass of the guard with `gate` armed, restored whatever the pass does. */
async function passThrough(gate: { restore(): void }) {
  try {
    return await guard.runOnce();
  } finally {
    gate.restore();
  }
}

describe('races of the reputation guard', () => {
  it('does not suspend again a domain the admin suspended and lifted after the pass read its figures', async () => {
    const s = await senderSetup(h);
    await recordsVerified(s.domainId);
    await overTheLimit(s.domainId);

    const gate = atStatement(h.services.db, 'after', figuresRead, async () => [
      await admin({ DomainID: s.domainId, Status: 'Suspended' }),
      await admin({ DomainID: s.domainId, Status: 'Enabled' }),
    ]);
    const pass = await passThrough(gate);
    expect(gate.fired).toBe(true);
    const [suspended, lifted] = await gate.result!;
    expect(suspended).toMatchObject({ Success: true, Status: 'Suspended', Changed: true });
    expect(lifted).toMatchObject({ Success: true, Status: 'Enabled', Changed: true });

    // The verdict was judged on figures from before the lift: the pass leaves the lifted domain alone.
    expect(pass.suspended).toEqual([]);
    expect((await row(s.domainId)).status).toBe('Enabled');
    expect(await eventsOf(s.domainId)).toEqual(['domain.suspended:admin', 'domain.unsuspended:Enabled']);
    // And the next pass counts the lift's hour net of what it held at the lift: the same figures do not suspend it either.
    expect((await guard.runOnce()).suspended).toEqual([]);
    expect((await row(s.domainId)).status).toBe('Enabled');
  });

  /** The account of the next two tests: sibling S suspended by the admin, D Enabled, their figures this hour. */
  async function accountOverTheLimit(): Promise<{ s: Awaited<ReturnType<typeof senderSetup>>; d: number }> {
    const s = await senderSetup(h);
    const d = await addDomain(h, s.sessionId, uniqueDomain('acct'));
    await h.services.db('sender_domains').where({ id: d }).update({ status: 'Enabled' });
    await recordsVerified(s.domainId);
    expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Changed: true });
    await figures(s.domainId, 6, 6);
    await figures(d, 6, 0);
    return { s, d };
  }

  it("control: without a lift, the same figures suspend the sibling on the account's figures", async () => {
    const { d } = await accountOverTheLimit();
    expect((await guard.runOnce()).suspended).toEqual([d]);
    expect((await row(d)).status).toBe('Suspended');
  });

  it("does not suspend a domain on the account's figures after the admin lifted its sibling, read before the lift", async () => {
    // The sibling S over on its own (12 outcomes, 6 hard), suspended by the admin; D under the minimum alone (6, 0)
    // but over on the account's figures (18, 6: 33 %), which count S's hours as long as S was not lifted after D.
    const { s, d } = await accountOverTheLimit();

    // The account's hourly figures: the pass's only read of them that names S (the domains' own read has Enabled
    // ones only). After it answers, before suspend()'s transaction, the admin lifts S.
    const gate = atStatement(
      h.services.db,
      'after',
      (sql, bindings) => figuresRead(sql) && bindings.includes(s.domainId),
      () => admin({ DomainID: s.domainId, Status: 'Enabled' }),
    );
    const pass = await passThrough(gate);
    expect(gate.fired).toBe(true);
    expect(await gate.result!).toMatchObject({ Success: true, Status: 'Enabled', Changed: true });

    // D's verdict counted S's hours the lift has just forgiven: the pass leaves D alone.
    expect(pass.suspended).toEqual([]);
    expect((await row(d)).status).toBe('Enabled');
    expect(await eventsOf(d)).toEqual([]);
    // The next pass counts S from its lift on, the lift's hour net of what it held then: S adds nothing, D alone is
    // under the minimum, and both stay Enabled.
    expect((await guard.runOnce()).suspended).toEqual([]);
    expect((await row(d)).status).toBe('Enabled');
    expect((await row(s.domainId)).status).toBe('Enabled');
  });

  it("keeps a suspension made before the owner's update starts; the owner's other changes apply", async () => {
    const s = await senderSetup(h);
    await recordsVerified(s.domainId);
    await overTheLimit(s.domainId);
    expect((await guard.runOnce()).suspended).toEqual([s.domainId]);

    const on = await h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, Status: 'Enabled', LinkTracking: 0 });
    expect(on).toMatchObject({ Success: true, DnsRegenerated: false, SenderDomain: { Status: 'Suspended' } });
    expect(await row(s.domainId)).toMatchObject({ status: 'Suspended' });
    expect(Number((await row(s.domainId)).link_tracking)).toBe(0);

    // A change of the hosts (which sends an Enabled domain back to Approval Pending) and Disabled: still Suspended.
    const hosts = await h.call({
      Command: 'user.senderdomain.update',
      SessionID: s.sessionId,
      DomainID: s.domainId,
      Status: 'Disabled',
      CustomSubdomain: 'mx2',
    });
    expect(hosts).toMatchObject({ Success: true, DnsRegenerated: true, SenderDomain: { Status: 'Suspended' } });
    expect(await row(s.domainId)).toMatchObject({ status: 'Suspended', subdomain: 'mx2' });
    expect(await eventsOf(s.domainId)).toEqual(['domain.suspended:bounce_rate']);
  });

  it.each([
    {
      by: "the guard's pass",
      owner: { Status: 'Enabled', LinkTracking: 0 },
      changed: { link_tracking: 0 },
      regenerated: false,
      events: ['domain.suspended:bounce_rate'],
    },
    {
      by: "the admin's emailgateway.setdomainstatus",
      owner: { CustomSubdomain: 'mx3' }, // regenerates the records: an Enabled domain would go to Approval Pending
      changed: { subdomain: 'mx3' },
      regenerated: true,
      events: ['domain.suspended:admin'],
    },
  ])("keeps a suspension by $by made between the owner's read and its UPDATE", async ({ by, owner, changed, regenerated, events }) => {
    const s = await senderSetup(h);
    await recordsVerified(s.domainId);
    const byGuard = by.startsWith("the guard's");
    if (byGuard) await overTheLimit(s.domainId);

    const gate = atStatement(h.services.db, 'before', ownersUpdate(s.domainId), async () =>
      byGuard ? (await guard.runOnce()).suspended : (await admin({ DomainID: s.domainId, Status: 'Suspended' })).Changed,
    );
    let reply;
    try {
      reply = await h.call({ Command: 'user.senderdomain.update', SessionID: s.sessionId, DomainID: s.domainId, ...owner });
    } finally {
      gate.restore();
    }
    // The suspension committed after the owner had read the domain as Enabled, and before its UPDATE.
    expect(gate.fired).toBe(true);
    expect(await gate.result!).toEqual(byGuard ? [s.domainId] : true);

    expect(reply).toMatchObject({ Success: true, DnsRegenerated: regenerated, SenderDomain: { Status: 'Suspended' } });
    const after = await row(s.domainId);
    expect(after.status).toBe('Suspended');
    for (const [k, v] of Object.entries(changed)) expect(typeof v === 'number' ? Number(after[k]) : after[k]).toBe(v);
    expect(await eventsOf(s.domainId)).toEqual(events);
  });
});
