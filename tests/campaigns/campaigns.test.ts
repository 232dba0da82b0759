/**
 * Campaigns through the legacy commands: create a draft, launch it (the answer comes at once; a worker task pages
 * through the list), and every subscribed, unsuppressed member receives it once, personalised, at a real SMTP sink;
 * progress, cancel and the error codes.
 */
import { simpleParser } from 'mailparser';
import { useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, as, bulkSubscribers, makeField, makeList, Owner } from '../lists/fixtures';
import { accountKey, createUser, senderSetup } from '../helpers/harness';

// Three tests wait up to 30 s twice (a page, then the end): jest's default 30 s a test would cut them short under load.
jest.setTimeout(90_000);

const camp = useCampaignRig();
const cmd = camp.cmd;

async function listOf(n: number, prefix: string): Promise<{ listId: number; eligible: string[] }> {
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}`, SenderName: 'The News' });
  const first = await makeField(camp.h, camp.o, listId, 'First name', 'FirstName');
  const eligible: string[] = [];
  for (let i = 0; i < n; i++) {
    const email = `${prefix}${i}@campaign.test`;
    const unsubscribed = i === 3;
    await addSubscriber(camp.h, camp.o, listId, email, {
      CustomFields: { [String(first)]: `Name${i}` },
      ...(unsubscribed ? { Status: 'Unsubscribed', UnsubscriptionDate: '2026-02-01 00:00:00', UnsubscriptionIP: '192.0.2.1' } : {}),
    });
    if (!unsubscribed && i !== 5 && i !== 6) eligible.push(email);
  }
  // Member 5 is on the From domain's suppression list.
  await cmd('emailgateway.addsuppression', { DomainID: camp.s.domainId, EmailAddress: `${prefix}5@campaign.test` });
  // Member 6 is suppressed on this list only (PerList scope).
  if (n > 6) await cmd('suppression.import', { ListID: listId, EmailAddresses: [`${prefix}6@campaign.test`] });
  return { listId, eligible };
}

it('launches at once and delivers to every subscribed, unsuppressed member exactly once, personalised, then completes', async () => {
  const { listId, eligible } = await listOf(12, 'a');
  const created = await cmd('campaign.create', {
    CampaignName: 'March Newsletter',
    Subject: 'News for {{ Subscriber:FirstName|"you" }}',
    ListID: listId,
    HTMLContent: '<h1>Hello {{ Subscriber:FirstName }}</h1>',
  });
  expect(created).toEqual({ Success: true, ErrorCode: 0, CampaignID: expect.any(Number) });
  const draft = await cmd('campaign.get', { CampaignID: created.CampaignID });
  expect(draft.Campaign).toMatchObject({ CampaignName: 'March Newsletter', Status: 'draft', ListID: listId, Progress: { Recipients: 0, Queued: 0 } });

  const launched = await cmd('campaign.launch', { CampaignID: created.CampaignID });
  expect(launched).toEqual({ Success: true, ErrorCode: 0, CampaignID: created.CampaignID, Status: 'sending', Recipients: eligible.length });
  await waitForCampaign(cmd, created.CampaignID, 'completed', 30000, 'the campaign to complete');
  await waitFor(() => camp.sink.received.filter((m) => m.to[0].startsWith('a')).length >= eligible.length, 30000, 'every member');
  await new Promise((r) => setTimeout(r, 300));
  const got = camp.sink.received.filter((m) => m.to[0].endsWith('@campaign.test') && m.to[0].startsWith('a'));
  expect(got.map((m) => m.to[0]).sort()).toEqual([...eligible].sort());
  const one = await simpleParser(got.find((m) => m.to[0] === 'a7@campaign.test')!.raw);
  expect(one.subject).toBe('News for Name7');
  expect(one.html).toContain('<h1>Hello Name7</h1>');
  expect(one.from?.value[0]).toMatchObject({ name: 'The News', address: `news@${camp.s.domain}` });
  expect(String(got.find((m) => m.to[0] === 'a7@campaign.test')!.raw)).toMatch(/^List-Unsubscribe:\s+<https:/m);

  await waitFor(
    async () => (await cmd('campaign.get', { CampaignID: created.CampaignID })).Campaign.Progress.Delivered === eligible.length,
    30000,
    'delivered counts',
  );
  const done = await cmd('campaign.get', { CampaignID: created.CampaignID });
  expect(done.Campaign.Progress).toEqual({
    Recipients: eligible.length,
    Queued: eligible.length,
    Skipped: 0,
    Sent: eligible.length,
    Cancelled: 0,
    Delivered: eligible.length,
    Bounced: 0,
    Opened: 0,
    Clicked: 0,
  });
  const list = await cmd('campaigns.get');
  expect(list.Campaigns.map((c: { CampaignID: number }) => c.CampaignID)).toContain(created.CampaignID);
  const withContent = list.Campaigns.find((c: { CampaignID: number }) => c.CampaignID === created.CampaignID);
  expect(withContent.HTMLContent).toContain('<h1>');
  // IncludeContent=0 (the console's polling list): the same campaign and progress, no content read or sent.
  const light = await cmd('campaigns.get', { IncludeContent: 0 });
  const same = light.Campaigns.find((c: { CampaignID: number }) => c.CampaignID === created.CampaignID);
  expect(same).toEqual({ ...withContent, HTMLContent: undefined, PlainContent: undefined });
  expect(Object.keys(same)).not.toContain('HTMLContent');
  expect(await cmd('campaigns.get', { IncludeContent: 'maybe-not' })).toMatchObject({ Success: false, ErrorCode: [3] });
  // Launching again is refused: the campaign is no longer a draft.
  expect(await cmd('campaign.launch', { CampaignID: created.CampaignID })).toMatchObject({ Success: false, ErrorCode: 3 });
});

it('resumes a page whose messages were accepted before a crash without sending them twice', async () => {
  const { listId, eligible } = await listOf(6, 'r');
  const c = (await cmd('campaign.create', { CampaignName: 'Resume', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  // Stop the in-process worker from taking the job: lease the row as a dead worker would have left it.
  await camp.h.services
    .db('campaigns')
    .where({ id: c })
    .update({ lease_until: Date.now() + 60_000, lease_owner: 'dead' });
  await cmd('campaign.launch', { CampaignID: c });
  // The dead worker had accepted the first two members before dying (cursor not moved).
  const row = await camp.h.services.db('campaigns').where({ id: c }).first();
  expect(row.status).toBe('sending');
  const { sendToMembers } = await import('../../src/mail/list-send');
  const { subscribedMembers } = await import('../../src/lists/api');
  const { findUser } = await import('../../src/auth/users');
  const { builtRequest } = await import('../../src/mail/send-request');
  const members = await subscribedMembers(camp.h.services.db, listId, camp.s.domainId, { order: 'id', limit: 2 });
  const domain = await camp.h.services.db('sender_domains').where({ id: camp.s.domainId }).first();
  await sendToMembers(
    camp.h.services,
    { user: (await findUser(camp.h.services.db, camp.s.userId))!, domain, apiKeyId: null, source: 'api' },
    builtRequest({ subject: 'Hi', from: { name: '', email: `news@${camp.s.domain}` }, text: 'Hello' }),
    { campaignId: c },
    members,
  );
  await camp.h.services
    .db('campaigns')
    .where({ id: c })
    .update({ lease_until: Date.now() - 1 });
  await camp.campaigns.sweep();
  await waitForCampaign(cmd, c, 'completed', 30000, 'the resumed campaign');
  const [{ n }] = await camp.h.services.db('messages').where({ campaign_id: c }).count({ n: '*' });
  expect(Number(n)).toBe(eligible.length);
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign.Progress.Queued).toBe(eligible.length);
});

it('stops a campaign under way once its account is disabled: no page after that, and it fails saying why', async () => {
  const db = camp.h.services.db;
  // An account of its own: disabling one ends its sessions, which the other tests here use.
  const own = await senderSetup(camp.h);
  const owner: Owner = { userId: own.userId, sessionId: own.sessionId };
  const listId = await makeList(camp.h, owner, { SenderEmailAddress: `news@${own.domain}` });
  // The members are the fixture, written in bulk; the launch and the account switch are the doors under test. 40 pages
  // of 250: far more than go by while the switch is made.
  const members = 10_000;
  await bulkSubscribers(db, listId, members, 'd', 'campaign.test');
  const c = (await as(camp.h, owner)('campaign.create', { CampaignName: 'Disable me', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  expect(await as(camp.h, owner)('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Recipients: members });
  await waitFor(async () => (await db('campaigns').where({ id: c }).first()).queued > 0, 30000, 'the first page');
  const disabled = await camp.h.call({ Command: 'user.update', AdminAPIKey: camp.h.adminKey, UserID: own.userId, AccountStatus: 'Disabled' });
  expect(disabled.Success).toBe(true);
  const atSwitch = Number((await db('campaigns').where({ id: c }).first()).queued);
  await waitFor(async () => (await db('campaigns').where({ id: c }).first()).status !== 'sending', 30000, 'the campaign to stop');
  const row = await db('campaigns').where({ id: c }).first();
  expect(row).toMatchObject({ status: 'failed', error: 'Invalid or deactivated user account' });
  // The page under way when the account was disabled may finish; no later one starts.
  expect(Number(row.queued)).toBeLessThanOrEqual(atSwitch + 250);
  expect(Number(row.queued)).toBeLessThan(members);
});

it('skips a page whose members are all refused one by one (suppressed after it was read), counts them, and sends the next page', async () => {
  const db = camp.h.services.db;
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  // 250 members (the first page) to be refused, then 10 to send to.
  await bulkSubscribers(db, listId, 250, 'gone', 'refused.test');
  await bulkSubscribers(db, listId, 10, 'kept', 'refused.test');
  const gone = Array.from({ length: 250 }, (_, i) => `gone${i}@refused.test`);
  const c = (await cmd('campaign.create', { CampaignName: 'Refused page', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  // The first page is read before its members are suppressed: they are suppressed (through the door) just before the
  // send path looks them up, as when they unsubscribe or bounce elsewhere while the page is under way.
  const store = camp.h.services.store;
  const original = store.runTogether;
  let armed = true;
  store.runTogether = async function (this: typeof store, stmts) {
    if (armed && stmts.some((st) => st.toSQL().bindings.includes(gone[0]))) {
      armed = false;
      expect(await cmd('suppression.import', { EmailAddresses: gone })).toMatchObject({ Success: true, TotalImported: 250 });
    }
    return original.call(this, stmts);
  };
  try {
    expect(await cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Recipients: 260 });
    await waitFor(async () => (await db('campaigns').where({ id: c }).first()).status !== 'sending', 30000, 'the campaign to end');
  } finally {
    store.runTogether = original;
  }
  expect(armed).toBe(false);
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign).toMatchObject({
    Status: 'completed',
    Error: null,
    Progress: { Recipients: 260, Queued: 10, Skipped: 250 },
  });
  // The platform door's campaign reply shows them too.
  const key = await accountKey(camp.h, camp.s.sessionId);
  const platform = await camp.h.request('GET', `/api/v1/campaigns/${c}`, { headers: { Authorization: `Bearer ${key}` } });
  expect(platform.status).toBe(200);
  expect(platform.body).toMatchObject({ status: 'completed', recipients: 260, queued: 10, skipped: 250 });
  const to = await db('messages as m').join('deliveries as d', 'd.message_id', 'm.id').where('m.campaign_id', c).pluck('d.recipient');
  expect(to.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `kept${i}@refused.test`).sort());
  await waitFor(() => camp.sink.received.filter((m) => m.to[0].startsWith('kept')).length >= 10, 30000, 'the second page delivered');
});

it('cancels a sending campaign: no further pages, unsent deliveries cancelled', async () => {
  const { listId } = await listOf(4, 'c');
  const c = (await cmd('campaign.create', { CampaignName: 'Cancel me', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  await camp.h.services
    .db('campaigns')
    .where({ id: c })
    .update({ lease_until: Date.now() + 60_000, lease_owner: 'paused' });
  await cmd('campaign.launch', { CampaignID: c });
  const r = await cmd('campaign.cancel', { CampaignID: c });
  expect(r).toEqual({ Success: true, ErrorCode: 0, CampaignID: c, Status: 'cancelled', CancelledDeliveries: 0 });
  await camp.h.services.db('campaigns').where({ id: c }).update({ lease_until: null, lease_owner: null });
  await camp.campaigns.run(c);
  const [{ n }] = await camp.h.services.db('messages').where({ campaign_id: c }).count({ n: '*' });
  expect(Number(n)).toBe(0);
  // Asked again, it makes its pass again (nothing left here): a pass cut short is finished so (cancel-leased.test.ts).
  expect(await cmd('campaign.cancel', { CampaignID: c })).toEqual({ Success: true, ErrorCode: 0, CampaignID: c, Status: 'cancelled', CancelledDeliveries: 0 });
});

it("answers its codes, and another user's campaign does not exist", async () => {
  expect(await cmd('campaign.create', {})).toMatchObject({ Success: false, ErrorCode: [1] });
  expect(await cmd('campaign.create', { CampaignName: 'x', ListID: 999999 })).toMatchObject({ Success: false, ErrorCode: [2] });
  expect(await cmd('campaign.create', { CampaignName: 'x', HTMLContent: { html: 1 } })).toMatchObject({ Success: false, ErrorCode: [6] });
  const nolist = (await cmd('campaign.create', { CampaignName: 'No list', Subject: 'S', HTMLContent: '<p>x</p>' })).CampaignID;
  expect(await cmd('campaign.launch', { CampaignID: nolist })).toMatchObject({ Success: false, ErrorCode: 4 });
  const other = await createUser(camp.h);
  const mine = (await cmd('campaign.create', { CampaignName: 'Mine' })).CampaignID;
  for (const c of ['campaign.get', 'campaign.launch', 'campaign.cancel']) {
    expect(await camp.h.call({ Command: c, SessionID: other.sessionId, CampaignID: mine })).toMatchObject({ Success: false, ErrorCode: 2 });
  }
  // A user without an Enabled domain has no From to send from.
  const theirList = (await camp.h.call({ Command: 'list.create', SessionID: other.sessionId, SubscriberListName: 'L' })).ListID;
  const theirs = (
    await camp.h.call({ Command: 'campaign.create', SessionID: other.sessionId, CampaignName: 'T', Subject: 'S', ListID: theirList, PlainContent: 'x' })
  ).CampaignID;
  expect(await camp.h.call({ Command: 'campaign.launch', SessionID: other.sessionId, CampaignID: theirs })).toMatchObject({ Success: false, ErrorCode: 5 });
});

it("creates a draft from a template: its subject and content fill what the call leaves out; another user's template answers 5", async () => {
  const listId = await makeList(camp.h, camp.o);
  const tpl = (
    await cmd('email.template.create', {
      TemplateName: 'Welcome',
      TemplateSubject: 'Welcome, {{ Subscriber:FirstName|"friend" }}',
      TemplateHTMLContent: '<h1>Hi</h1>',
      TemplatePlainContent: 'Hi',
    })
  ).TemplateID;
  const whole = (await cmd('campaign.create', { CampaignName: 'From template', ListID: listId, TemplateID: tpl, Subject: '', HTMLContent: '' })).CampaignID;
  expect((await cmd('campaign.get', { CampaignID: whole })).Campaign).toMatchObject({
    Subject: 'Welcome, {{ Subscriber:FirstName|"friend" }}',
    HTMLContent: '<h1>Hi</h1>',
    PlainContent: 'Hi',
    ListID: listId,
  });
  // What the call gives wins; the campaign keeps a copy, so a later template edit does not reach it.
  const own = (await cmd('campaign.create', { CampaignName: 'Own subject', TemplateID: tpl, Subject: 'Mine' })).CampaignID;
  await cmd('email.template.update', { TemplateID: tpl, TemplateHTMLContent: '<h1>Changed</h1>' });
  expect((await cmd('campaign.get', { CampaignID: own })).Campaign).toMatchObject({ Subject: 'Mine', HTMLContent: '<h1>Hi</h1>' });

  const other = await createUser(camp.h);
  expect(await camp.h.call({ Command: 'campaign.create', SessionID: other.sessionId, CampaignName: 'Theft', TemplateID: tpl })).toMatchObject({
    Success: false,
    ErrorCode: [5],
  });
  expect(await cmd('campaign.create', { CampaignName: 'Bad', TemplateID: 'abc' })).toMatchObject({ Success: false, ErrorCode: [5] });
});
