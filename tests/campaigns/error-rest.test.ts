/**
 * After an error on a page a campaign rests one sweep interval (lease_until = now + interval, no owner) before it is
 * taken again. Without the rest it looked waiting at once, and fair-share (fair-share.ts) gave it the slot of every
 * campaign handing on: here account A's two long campaigns hold both slots, so the newer one hands on at each page
 * while B's waits, and B's campaign, whose pages fail (the database failing its suppression lookup), was retried in
 * a tight loop. One member a page (LIST_PAGE_BYTES at its minimum) keeps A's campaigns long in pages.
 */
import { useCampaignRig } from '../helpers/campaign-rig';
import { accountKey, senderSetup } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';
import { DependencyTimeout } from '../../src/outage';

const SWEEP_MS = 2000;
const camp = useCampaignRig({ LIST_PAGE_BYTES: String(64 * 1024), SWEEP_INTERVAL_SECONDS: String(SWEEP_MS / 1000) });

it('rests a campaign whose page failed one sweep interval between tries, not a tight loop, and sends it once the failure is gone', async () => {
  const db = camp.h.services.db;
  const a: number[] = [];
  for (const prefix of ['a1-', 'a2-']) {
    const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
    await bulkSubscribers(db, listId, 2000, prefix, 'rest.test');
    a.push((await camp.cmd('campaign.create', { CampaignName: prefix, Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID);
  }
  const b = await senderSetup(camp.h);
  const key = await accountKey(camp.h, b.sessionId);
  const api = (method: string, path: string, body?: unknown) => camp.h.request(method, path, { headers: { Authorization: `Bearer ${key}` }, body });
  const bList = await makeList(camp.h, { userId: b.userId, sessionId: b.sessionId }, { SenderEmailAddress: `news@${b.domain}` });
  await bulkSubscribers(db, bList, 3, 'b', 'rest-b.test');
  const created = await api('POST', '/api/v1/campaigns', {
    name: 'Fails',
    subject: 'Hi',
    listId: String(bList),
    content: '<p>Hi</p>',
  });
  expect(created.status).toBe(200);

  // B's page errors: the database fails the send path's suppression lookup of B's members (and only theirs).
  const store = camp.h.services.store;
  const original = store.runTogether;
  const tries: number[] = [];
  let failing = true;
  store.runTogether = async function (this: typeof store, stmts) {
    if (failing && stmts.some((st) => st.toSQL().bindings.some((v) => String(v).endsWith('@rest-b.test')))) {
      tries.push(Date.now());
      throw new DependencyTimeout('MySQL (suppression lookup)', 2000);
    }
    return original.call(this, stmts);
  };
  try {
    for (const c of a) expect(await camp.cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true });
    const queued = async (id: number) => Number((await db('campaigns').where({ id }).first()).queued);
    await waitFor(async () => (await queued(a[0])) > 0 && (await queued(a[1])) > 0, 30000, "A's campaigns in both slots");
    expect((await api('POST', `/api/v1/campaigns/${created.body.id}/launch`)).body).toEqual({ success: true, status: 'sending' });

    await waitFor(async () => tries.length >= 1, 30000, "B's first try");
    const atFirst = await queued(a[1]);
    await waitFor(async () => tries.length >= 3, 30000, "B's third try");
    const gaps = tries.slice(1).map((t, i) => t - tries[i]);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(SWEEP_MS);
    // The slots were A's meanwhile: its newer campaign (the one handing on to B) went on sending.
    expect(await queued(a[1])).toBeGreaterThan(atFirst);
    // Between tries: still sending, no owner, resting until a sweep interval after the last try.
    let rested: { status: string; lease_until: number } | undefined;
    let last = 0;
    await waitFor(
      async () => {
        last = tries[tries.length - 1];
        const row = await db('campaigns').where({ id: created.body.id }).first();
        if (row.lease_owner === null) rested = row;
        return row.lease_owner === null;
      },
      10000,
      'the lease released',
    );
    expect(rested!.status).toBe('sending');
    expect(Number(rested!.lease_until)).toBeGreaterThanOrEqual(last + SWEEP_MS);
    expect((await api('GET', `/api/v1/campaigns/${created.body.id}`)).body).toMatchObject({ status: 'sending', queued: 0 });
  } finally {
    failing = false;
    store.runTogether = original;
  }
  // The failure gone, the next try (after the rest) sends B's campaign, each member once.
  await waitFor(async () => (await api('GET', `/api/v1/campaigns/${created.body.id}`)).body.status === 'completed', 30000, "B's campaign to complete");
  await waitFor(() => camp.sink.received.filter((m) => m.to[0].endsWith('@rest-b.test')).length >= 3, 30000, "B's members");
  expect(
    camp.sink.received
      .filter((m) => m.to[0].endsWith('@rest-b.test'))
      .map((m) => m.to[0])
      .sort(),
  ).toEqual(['b0@rest-b.test', 'b1@rest-b.test', 'b2@rest-b.test']);

  for (const c of a) expect(await camp.cmd('campaign.cancel', { CampaignID: c })).toMatchObject({ Success: true, Status: 'cancelled' });
  await waitFor(async () => (await db('campaigns').whereIn('id', a).whereNotNull('lease_owner').first('id')) === undefined, 30000, 'the worker to let go');
}, 120000);
