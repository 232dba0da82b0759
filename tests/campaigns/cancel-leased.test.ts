/**
 * campaign.cancel against deliveries it cannot reach in its pass, through the doors and a real SMTP sink: a delivery
 * a worker holds at the cancel and that comes back to wait (a 4xx here) is cancelled at its next lease, never sent;
 * a pass cut short is finished by a second cancel (and a leftover that comes due first, by the worker); a campaign
 * the quota stopped (failed) can be cancelled too, and then not resumed. One member a page (LIST_PAGE_BYTES at its
 * minimum), so the quota stops a campaign between pages.
 */
import { useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { shownStatusSql } from '../../src/delivery/leased';
import { senderSetup } from '../helpers/harness';
import { holdTransactions } from '../helpers/hold-transactions';
import { smtpError, waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList, Owner } from '../lists/fixtures';

jest.setTimeout(90_000);

const camp = useCampaignRig({ LIST_PAGE_BYTES: String(64 * 1024) });
const cmd = camp.cmd;
const FINAL = ['delivered', 'bounced', 'failed', 'cancelled'];

/** Per recipient host: RCPT TO waits for `gate` (when set), then is answered by `reply` (undefined accepts). */
const rules = new Map<string, { gate?: Promise<void>; reply: (address: string) => Error | undefined }>();
const hostOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);
/** Gates to open in afterAll, so a failed test leaves no session held. */
const gates: (() => void)[] = [];
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  gates.push(open);
  return { wait, open };
}

beforeAll(() => {
  camp.sink.rcptWait = (address) => rules.get(hostOf(address))?.gate;
  camp.sink.onRcpt = (address) => rules.get(hostOf(address))?.reply(address);
});
afterAll(() => {
  for (const open of gates) open();
});

/** Creates and launches a campaign to `members` members `m<n>@<host>` (the campaign is named `host`). */
async function launched(o: Owner, fromDomain: string, members: number, host: string): Promise<number> {
  const h = camp.h;
  const listId = await makeList(h, o, { SenderEmailAddress: `news@${fromDomain}` });
  await bulkSubscribers(h.services.db, listId, members, 'm', host);
  const call = (command: string, params: Record<string, unknown>) => h.call({ Command: command, SessionID: o.sessionId, ...params });
  const c = (await call('campaign.create', { CampaignName: host, Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  expect(await call('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Recipients: members });
  return c;
}

/**
 * A campaign of four members still sending after its third page: the fourth page's transaction is held (so are all
 * batch transactions, settles included) until `release`. A held page committed after a cancel is rolled back.
 */
async function threeQueued(host: string): Promise<{ c: number; release: () => void }> {
  const db = camp.h.services.db;
  let armed = true;
  const count = async () => Number((await db('messages as m').join('campaigns as c', 'c.id', 'm.campaign_id').where('c.name', host).count({ n: '*' }))[0].n);
  const held = holdTransactions(camp.h.services.store, async () => armed && (await count()) >= 3);
  const release = () => {
    armed = false;
    held.restore();
  };
  try {
    const c = await launched(camp.o, camp.s.domain, 4, host);
    await held.reached;
    return { c, release };
  } catch (err) {
    release();
    throw err;
  }
}

/** The campaign's deliveries, by recipient. */
const deliveriesOf = (c: number) =>
  camp.h.services
    .db('deliveries as d')
    .join('messages as m', 'm.id', 'd.message_id')
    .where('m.campaign_id', c)
    .orderBy('d.recipient')
    .select('d.id', 'd.recipient', camp.h.services.db.raw(`${shownStatusSql('d')} as status`), 'd.attempts', 'd.finished_at');
const eventsOf = async (deliveryId: number) =>
  (await camp.h.services.db('events').where({ delivery_id: deliveryId }).orderBy('id')).map((e) => ({ type: e.type, data: JSON.parse(e.data) }));
const receivedAt = (host: string) => camp.sink.received.filter((m) => m.to.some((t) => hostOf(t) === host)).length;

it('a delivery being sent when the campaign is cancelled and then deferred (4xx) is cancelled at its next lease, never sent', async () => {
  const host = 'leased.test';
  const stall = gate();
  const refused = new Set<string>();
  // Each RCPT waits for the cancel; each address is refused once with a 4xx, then accepted (as a retry would be).
  rules.set(host, {
    gate: stall.wait,
    reply: (a) => {
      if (refused.has(a)) return undefined;
      refused.add(a);
      return smtpError(451, '4.3.0 Temporary local problem');
    },
  });
  const { c, release } = await threeQueued(host);
  try {
    // Every delivery is leased (being sent), so the cancel's pass cannot touch any of them.
    await waitFor(async () => (await deliveriesOf(c)).filter((d) => d.status === 'sending').length === 3, 20_000, 'all three leased');
    expect(await cmd('campaign.cancel', { CampaignID: c })).toEqual({
      Success: true,
      ErrorCode: 0,
      CampaignID: c,
      Status: 'cancelled',
      CancelledDeliveries: 0,
    });
  } finally {
    release();
  }
  stall.open();
  // Refused, each is deferred for a retry (1 s here) that the sink would accept.
  await waitFor(async () => (await deliveriesOf(c)).every((d) => FINAL.includes(d.status)), 20_000, 'every delivery to end');
  const rows = await deliveriesOf(c);
  expect(rows.map((d) => [d.status, Number(d.attempts)])).toEqual([
    ['cancelled', 1],
    ['cancelled', 1],
    ['cancelled', 1],
  ]);
  for (const d of rows) {
    expect(Number(d.finished_at)).toBeGreaterThan(0);
    // After the deferral its attempt recorded, the same event campaign.cancel's pass records.
    expect(await eventsOf(Number(d.id))).toEqual([
      { type: 'queued', data: expect.any(Object) },
      { type: 'deferred', data: expect.objectContaining({ smtp_reply: expect.stringContaining('451') }) },
      { type: 'cancelled', data: { recipient: d.recipient } },
    ]);
  }
  expect(refused.size).toBe(3);
  await new Promise((r) => setTimeout(r, 1500)); // a retry's time: nothing else goes out
  expect(receivedAt(host)).toBe(0);
  // The held fourth page was not committed after the cancel.
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign).toMatchObject({
    Status: 'cancelled',
    Progress: { Queued: 3, Cancelled: 3, Delivered: 0 },
  });
});

it('a second cancel finishes a pass cut short, and a leftover that comes due first is cancelled by the worker', async () => {
  const host = 'rerun.test';
  // Refused with a "try again in" hint that puts each retry an hour away: the rows wait, unleased, for the cancel.
  rules.set(host, { reply: () => smtpError(451, '4.7.1 Greylisted, try again in 3600 seconds') });
  const db = camp.h.services.db;
  const { c, release } = await threeQueued(host);
  // Still sending, but no further page: its lease is another worker's (one that does not go on).
  await db('campaigns')
    .where({ id: c })
    .update({ lease_owner: 'elsewhere', lease_until: Date.now() + 600_000 });
  release();
  await waitFor(async () => (await deliveriesOf(c)).every((d) => d.status === 'deferred'), 20_000, 'all three deferred');
  expect(await cmd('campaign.cancel', { CampaignID: c })).toMatchObject({ Success: true, Status: 'cancelled', CancelledDeliveries: 3 });
  // The pass cut short: two of its rows never reached (as a restart mid-pass leaves them), one due in an hour, one now.
  const [later, due] = await deliveriesOf(c);
  const undo = { status: 'deferred', finished_at: 0, lease_until: 0, lease_owner: '' };
  await db('deliveries')
    .where({ id: later.id })
    .update({ ...undo, status: 'queued', next_attempt_at: Date.now() + 3_600_000 });
  await db('deliveries')
    .where({ id: due.id })
    .update({ ...undo, next_attempt_at: Date.now() - 60_000 });
  // The due one has no job: the sweeper finds it, and the worker cancels it instead of sending it.
  await waitFor(async () => (await db('deliveries').where({ id: due.id }).first()).status === 'cancelled', 20_000, 'the due leftover cancelled');
  expect(Number((await db('deliveries').where({ id: due.id }).first()).attempts)).toBe(1);
  // Asking again cancels the rest, and says how many this time.
  expect(await cmd('campaign.cancel', { CampaignID: c })).toEqual({ Success: true, ErrorCode: 0, CampaignID: c, Status: 'cancelled', CancelledDeliveries: 1 });
  expect((await deliveriesOf(c)).map((d) => d.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  expect(await cmd('campaign.cancel', { CampaignID: c })).toMatchObject({ Success: true, Status: 'cancelled', CancelledDeliveries: 0 });
  expect(receivedAt(host)).toBe(0);
});

it('cancels a campaign the quota stopped (failed): its waiting deliveries are cancelled, and it cannot be resumed', async () => {
  const host = 'failed.test';
  rules.set(host, { reply: () => smtpError(451, '4.7.1 Greylisted, try again in 3600 seconds') });
  const own = await senderSetup(camp.h);
  expect(await camp.h.call({ Command: 'user.update', AdminAPIKey: camp.h.adminKey, UserID: own.userId, LimitEmailSendPerDay: 2 })).toMatchObject({
    Success: true,
  });
  const c = await launched({ userId: own.userId, sessionId: own.sessionId }, own.domain, 4, host);
  const call = (command: string) => camp.h.call({ Command: command, SessionID: own.sessionId, CampaignID: c });
  await waitFor(async () => (await call('campaign.get')).Campaign.Status !== 'sending', 30_000, 'the quota to stop the campaign');
  expect((await call('campaign.get')).Campaign).toMatchObject({ Status: 'failed', Error: expect.stringMatching(/quota/), Progress: { Queued: 2 } });
  await waitFor(async () => (await deliveriesOf(c)).every((d) => d.status === 'deferred'), 20_000, 'both deferred');
  expect(await call('campaign.cancel')).toEqual({ Success: true, ErrorCode: 0, CampaignID: c, Status: 'cancelled', CancelledDeliveries: 2 });
  expect((await deliveriesOf(c)).map((d) => d.status)).toEqual(['cancelled', 'cancelled']);
  // Cancelled is final: launching it again (the way a failed campaign is resumed) is refused.
  expect(await call('campaign.launch')).toMatchObject({ Success: false, ErrorCode: 3 });
});

it('a completed campaign has finished: cancel answers 3 and changes nothing', async () => {
  const host = 'done.test';
  const c = await launched(camp.o, camp.s.domain, 1, host);
  await waitForCampaign(cmd, c, 'completed', 30_000, 'the campaign to complete');
  await waitFor(() => receivedAt(host) === 1, 20_000, 'the member delivered');
  expect(await cmd('campaign.cancel', { CampaignID: c })).toMatchObject({ Success: false, ErrorCode: 3 });
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign.Status).toBe('completed');
});
