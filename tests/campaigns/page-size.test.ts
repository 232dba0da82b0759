/**
 * Pages sized by bytes: every message stores its own copy of the content, so a campaign's page (and a TargetListID
 * send's) takes as many members as LIST_PAGE_BYTES of stored messages holds, at least one, and campaign content is
 * capped at create. Here ~1 MiB of HTML (about 2 MiB stored a message) and a 7 MiB budget: 3 members a page.
 * A page's messages share their accept time, so messages per created_at are messages per page.
 */
import { CampaignRig, useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';

// Pages of ~2 MiB messages are slow on a loaded machine: the first test's waits alone add up to 60 s.
jest.setTimeout(90_000);

const HTML = `<p>${'x'.repeat(1 << 20)}</p>`;
const MEMBERS = 8;

const camp = useCampaignRig({ LIST_PAGE_BYTES: String(7 << 20) });
const cmd = camp.cmd;

async function listOf(prefix: string): Promise<number> {
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  await bulkSubscribers(camp.h.services.db, listId, MEMBERS, prefix, 'size.test');
  return listId;
}

/** Messages per accept time (per page), in accept order. */
async function pageSizes(where: (q: ReturnType<CampaignRig['h']['services']['db']>) => unknown): Promise<number[]> {
  const q = camp.h.services.db('messages').select('created_at').count({ n: '*' }).groupBy('created_at').orderBy('created_at');
  where(q);
  return (await q).map((r) => Number(r.n));
}

it('sends a campaign with large content in pages its byte budget holds, every member once', async () => {
  const listId = await listOf('c');
  const c = (await cmd('campaign.create', { CampaignName: 'Big', Subject: 'Big', ListID: listId, HTMLContent: HTML })).CampaignID;
  expect(await cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Recipients: MEMBERS });
  await waitForCampaign(cmd, c, 'completed', 30000, 'the campaign to complete');
  expect(await pageSizes((q) => q.where({ campaign_id: c }))).toEqual([3, 3, 2]);
  await waitFor(() => camp.sink.received.filter((m) => m.to[0].startsWith('c')).length >= MEMBERS, 30000, 'every member');
  const got = camp.sink.received.filter((m) => m.to[0].startsWith('c')).map((m) => m.to[0]);
  expect(got.sort()).toEqual(Array.from({ length: MEMBERS }, (_, i) => `c${i}@size.test`).sort());
});

it('sends a TargetListID list send with large content to the same members, in smaller transactions', async () => {
  const listId = await listOf('t');
  // A SendAt a day ahead: the pages are accepted and stored the same way, only for later, so the worker does not
  // compose and relay eight ~2 MiB messages that this test does not read (the campaign above checks their delivery).
  const SendAt = Math.floor(Date.now() / 1000) + 86400;
  const body = { TargetListID: listId, Subject: 'Big', ContentType: 'html', HTMLContent: HTML, From: { name: 'News', email: `news@${camp.s.domain}` }, SendAt };
  const send = () => camp.h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${camp.s.key}`, 'Idempotency-Key': `big-${listId}` }, body });
  const res = await send();
  expect(res.status).toBe(200);
  const ids: string[] = res.body.MessageID;
  expect(ids).toHaveLength(MEMBERS);
  const rows = await camp.h.services.db('deliveries').whereIn('message_id', ids).select('message_id', 'recipient');
  const to = new Map(rows.map((r) => [r.message_id, r.recipient]));
  // Upstream's order: the members by email.
  expect(ids.map((id) => to.get(id))).toEqual(Array.from({ length: MEMBERS }, (_, i) => `t${i}@size.test`).sort());
  expect(await pageSizes((q) => q.whereIn('id', ids))).toEqual([3, 3, 2]);
  // Each transaction committed the reply so far, the last one whole: a retry replays every id and sends nothing.
  expect((await send()).body.MessageID).toEqual(ids);
  expect(await pageSizes((q) => q.where('subject', 'Big').whereNull('campaign_id'))).toEqual([3, 3, 2]);
});

it('refuses campaign content over 5 MiB at create with code 7', async () => {
  const big = 'y'.repeat(5 * 1024 * 1024 + 1);
  expect(await cmd('campaign.create', { CampaignName: 'Huge', Subject: 'S', HTMLContent: big })).toMatchObject({ Success: false, ErrorCode: [7] });
  expect(await cmd('campaign.create', { CampaignName: 'Huge', Subject: 'S', PlainContent: big })).toMatchObject({ Success: false, ErrorCode: [7] });
  expect(await cmd('campaign.create', { CampaignName: 'Fits', Subject: 'S', HTMLContent: big.slice(1) })).toMatchObject({ Success: true });
});
