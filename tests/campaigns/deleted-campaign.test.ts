/**
 * A campaign copy whose campaign row is gone when it is retried (a deferral, then a retry) read as a non-campaign
 * message: its campaign status was null, so the worker sent it as ordinary mail (checked against the install's
 * suppression patterns, not against its list's members). Now a copy of a campaign that no longer exists is cancelled
 * at its next lease, as a cancelled campaign's copy is (status, event), never sent.
 *
 * No door deletes one campaign today: its row goes only with its account (user.delete), after the account's messages
 * and deliveries. The test removes the row itself, standing in for any way it could go first.
 */
import { shownStatusSql } from '../../src/delivery/leased';
import { useCampaignRig } from '../helpers/campaign-rig';
import { smtpError, waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';

jest.setTimeout(60_000);

const camp = useCampaignRig();
const host = 'gone-campaign.test';
let open!: () => void;
const held = new Promise<void>((r) => (open = r));
const refused = new Set<string>();

beforeAll(() => {
  // RCPT waits until the test lets it go, then is refused once with a 4xx (deferred, retried in 1 s), then accepted.
  camp.sink.rcptWait = (address) => (address.endsWith(`@${host}`) ? held : undefined);
  camp.sink.onRcpt = (address) => {
    if (!address.endsWith(`@${host}`) || refused.has(address)) return undefined;
    refused.add(address);
    return smtpError(451, '4.3.0 Temporary local problem');
  };
});
afterAll(() => open());

it('cancels a deferred copy of a campaign whose row is gone at its retry, and never sends it', async () => {
  const { h, o, s, cmd } = camp;
  const db = h.services.db;
  const listId = await makeList(h, o, { SenderEmailAddress: `news@${s.domain}` });
  await bulkSubscribers(db, listId, 2, 'm', host);
  const c = (await cmd('campaign.create', { CampaignName: 'gone', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  expect(await cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Recipients: 2 });
  const copies = () =>
    db('deliveries as d')
      .join('messages as m', 'm.id', 'd.message_id')
      .where('m.campaign_id', c)
      .orderBy('d.id')
      .select('d.id', db.raw(`${shownStatusSql('d')} as status`), 'd.attempts');
  // Both copies are being sent (their RCPT held) when the campaign row goes.
  await waitFor(async () => (await copies()).filter((d) => d.status === 'sending').length === 2, 20_000, 'both copies leased');
  await db('campaigns').where({ id: c }).delete();
  open();
  await waitFor(async () => (await copies()).every((d) => ['cancelled', 'delivered', 'failed', 'bounced'].includes(d.status)), 20_000, 'both copies ended');
  const rows = await copies();
  expect(rows.map((d) => [d.status, Number(d.attempts)])).toEqual([
    ['cancelled', 1],
    ['cancelled', 1],
  ]);
  for (const d of rows) {
    // The 4xx recorded, then the event campaign.cancel records for a copy it stops.
    const events = (await db('events').where({ delivery_id: d.id }).orderBy('id')).map((e) => e.type);
    expect(events).toEqual(['queued', 'deferred', 'cancelled']);
  }
  expect(refused.size).toBe(2);
  await new Promise((r) => setTimeout(r, 1500)); // another retry's time: nothing goes out
  expect(camp.sink.received.filter((m) => m.to.some((t) => t.endsWith(`@${host}`)))).toHaveLength(0);
});
