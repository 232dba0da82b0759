import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { simpleParser } from 'mailparser';
import { ConsoleRig, startConsoleRig } from '../helpers/console-rig';
import { freePort } from '../helpers/ports';
import { waitFor } from '../helpers/sink';

/**
 * The Campaigns page in headless Chromium against a real gateway: a campaign written from a list and a template,
 * previewed in its sandbox, launched, and its live progress followed until every subscriber's copy is at the SMTP
 * sink and counted delivered; a launch the API refuses shows the API's reason; a draft is cancelled; a sending
 * campaign is stopped; a pasted open pixel or remote image in a campaign's or a template's preview is not fetched.
 * CONSOLE_SCREENSHOTS=1 also refreshes docs/console/campaign*.png.
 */
jest.setTimeout(90_000);

const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/console') : null;
const username = 'grace';
const password = 'compiler-compiler';
const domain = 'campaigns.example.com';
const readers = ['ann@inbox.test', 'bob@inbox.test', 'cy@inbox.test'];

let rig: ConsoleRig;
let page: Page;
let listId: number;

beforeAll(async () => {
  // Tracking links point at the gateway itself, so the test can open and click like a mail client would.
  const port = await freePort();
  rig = await startConsoleRig({ PORT: String(port), TRACKING_BASE_URL: `http://127.0.0.1:${port}` });
  const { sessionId: SessionID } = await rig.userWithDomain(username, password, domain);
  listId = (await rig.ok({ Command: 'list.create', SessionID, SubscriberListName: 'Readers', SenderEmailAddress: `news@${domain}`, SenderName: 'The News' }))
    .ListID;
  for (const email of readers) {
    await rig.ok({
      Command: 'subscriber.create',
      SessionID,
      ListID: listId,
      EmailAddress: email,
      Status: 'Subscribed',
      SubscriptionDate: '2026-01-02 03:04:05',
      SubscriptionIP: '192.0.2.1',
    });
  }
  // Unsubscribed: must not count as a recipient nor receive the campaign.
  await rig.ok({
    Command: 'subscriber.create',
    SessionID,
    ListID: listId,
    EmailAddress: 'gone@inbox.test',
    Status: 'Unsubscribed',
    SubscriptionDate: '2026-01-02 03:04:05',
    SubscriptionIP: '192.0.2.1',
    UnsubscriptionDate: '2026-01-03 00:00:00',
    UnsubscriptionIP: '192.0.2.1',
  });
  await rig.ok({
    Command: 'email.template.create',
    SessionID,
    TemplateName: 'Monthly',
    TemplateSubject: 'The monthly news',
    TemplateHTMLContent: '<h1 id="headline">This month</h1><p>All <a href="https://news.example/more">the news</a>.</p>',
  });
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await rig?.close();
});

async function shot(name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const nav = (label: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true });
const figure = async (name: string) => Number(await page.locator(`[data-figure=${name}] .value`).textContent());

describe('console: campaigns', () => {
  it('writes a campaign from a list and a template, previews it in a sandbox, launches it and follows it to delivered', async () => {
    await page.goto(`${rig.base}/console/`);
    await page.getByRole('tab', { name: 'User' }).click();
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Domains' }).waitFor();

    await nav('Campaigns').click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    await page.getByText('No campaigns yet', { exact: false }).waitFor();
    await page.locator('input[name=campaign-name]').fill('March news');
    await page.locator('select[name=campaign-list]').selectOption(String(listId));
    await page.locator('select[name=campaign-template]').selectOption({ label: 'Monthly' });
    await page.locator('[data-action=create-campaign]').click();

    await page.getByRole('heading', { name: 'March news' }).waitFor();
    await page.locator('.badge', { hasText: 'draft' }).waitFor();
    // The template's subject and HTML were copied into the draft; the preview runs in an empty sandbox.
    await page.getByText('The monthly news', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Readers' }).waitFor();
    expect(await page.locator('iframe.preview').getAttribute('sandbox')).toBe('');
    await page.frameLocator('iframe.preview').locator('#headline', { hasText: 'This month' }).waitFor();
    await shot('campaign-draft');

    await page.locator('[data-action=launch-campaign]').click();
    // Live progress: the page polls campaign.get until the receiving server has answered for every recipient.
    await page.locator('.badge', { hasText: /^(sending|completed)$/ }).waitFor();
    await waitFor(async () => (await figure('Delivered')) === readers.length, 30_000, 'the page to count every delivery');
    expect(await figure('Recipients')).toBe(readers.length);
    expect(await figure('Queued')).toBe(readers.length);
    expect(await figure('Sent')).toBe(readers.length);
    expect(await figure('Bounced')).toBe(0);
    await page.locator('.badge', { hasText: 'completed' }).waitFor();
    await page.getByText(`${readers.length} of ${readers.length} answered (100%)`, { exact: false }).waitFor();
    const got = rig.sink.received.filter((m) => m.to.some((t) => t.endsWith('@inbox.test')));
    expect(got.map((m) => m.to[0]).sort()).toEqual([...readers].sort());
    expect(got.every((m) => /^Subject: The monthly news/m.test(String(m.raw)))).toBe(true);
    // Ann's mail client shows the images and she clicks the link: the figures count one open and one click.
    const html = String((await simpleParser(got.find((m) => m.to[0] === 'ann@inbox.test')!.raw)).html);
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&')).filter((u) => u.startsWith(rig.base));
    expect(urls.length).toBeGreaterThanOrEqual(2);
    for (const u of urls) if (!/unsubscribe|\/u\//i.test(u)) await fetch(u, { redirect: 'manual' });
    await waitFor(
      async () => {
        await page.locator('[data-action=refresh]').click();
        await page.locator('[data-action=refresh]', { hasText: 'Refresh' }).waitFor();
        return (await figure('Opened')) === 1 && (await figure('Clicked')) === 1;
      },
      10_000,
      'the open and the click to count',
    );
    // Neither Launch nor Cancel is offered for a finished campaign.
    expect(await page.locator('[data-action=launch-campaign], [data-action=cancel-campaign]').count()).toBe(0);
    await shot('campaign');

    await nav('Campaigns').click();
    const row = page.locator('tr[data-campaign="March news"]');
    await row.locator('.badge', { hasText: 'completed' }).waitFor();
    expect((await row.locator('td[data-label=Delivered]').textContent())!.trim()).toBe(String(readers.length));
  });

  it("shows the API's reason when a launch is refused, and cancels a draft after asking", async () => {
    // Reached from the list's own page too, with the list already picked.
    await nav('Lists').click();
    await page.getByRole('link', { name: 'Readers', exact: true }).click();
    await page.locator('[data-action=campaign-to-list]').click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    // Picked once the lists have loaded into the picker.
    await waitFor(async () => (await page.locator('select[name=campaign-list]').inputValue()) === String(listId), 10_000, 'the list to be picked');

    // Written here, with no content: the draft is made, its launch is refused with the API's text.
    await page.locator('input[name=campaign-name]').fill('Empty one');
    await page.locator('input[name=campaign-source][value=write]').check();
    await page.locator('input[name=campaign-subject]').fill('Nothing inside');
    await page.locator('[data-action=create-campaign]').click();
    await page.getByRole('heading', { name: 'Empty one' }).waitFor();
    await page.getByText('No content: the campaign cannot be launched without it.').waitFor();
    await page.locator('[data-action=launch-campaign]').click();
    await page.getByRole('alert').filter({ hasText: 'The campaign has no content: it needs a Subject and HTML or plain text' }).waitFor();

    await page.locator('[data-action=cancel-campaign]').click();
    await page.getByText('Cancel this draft?').waitFor();
    await page.locator('[data-action=cancel-campaign-confirm]').click();
    await page.locator('.badge', { hasText: 'cancelled' }).waitFor();
    expect(await page.locator('[data-action=launch-campaign]').count()).toBe(0);

    // A name the API refuses (too long) shows its error beside the button, and nothing is created.
    await nav('Campaigns').click();
    await page.locator('tr[data-campaign="Empty one"] .badge', { hasText: 'cancelled' }).waitFor();
    await shot('campaigns');
    await page.locator('input[name=campaign-name]').fill('x'.repeat(300));
    await page.locator('[data-action=create-campaign]').click();
    await page
      .getByRole('alert')
      .filter({ hasText: /CampaignName/ })
      .waitFor();
    expect(await page.locator('tr[data-campaign]').count()).toBe(2);
  });

  it('stops a campaign while it is sending: the page shows it going out, Cancel stops it, nothing is sent', async () => {
    const SessionID = (await rig.ok({ Command: 'user.login', Username: username, Password: password })).SessionID;
    const id = (await rig.ok({ Command: 'campaign.create', SessionID, CampaignName: 'Held back', Subject: 'Held back', ListID: listId, PlainContent: 'Hello' }))
      .CampaignID;
    // A worker holds the campaign's lease (as one busy with it would), so it stays `sending` while the page looks.
    await rig.gateway.services
      .db('campaigns')
      .where({ id })
      .update({ lease_until: Date.now() + 60_000, lease_owner: 'busy-elsewhere' });
    await nav('Campaigns').click();
    await page.locator('[data-action=refresh]').click(); // made through the API while the page was open
    await page.getByRole('link', { name: 'Held back', exact: true }).click();
    await page.locator('[data-action=launch-campaign]').click();
    await page.locator('.badge', { hasText: 'sending' }).waitFor();
    await page.getByText('(updating…)').waitFor();
    expect(await figure('Recipients')).toBe(readers.length);
    await page.locator('[data-action=cancel-campaign]').click();
    await page.getByText('Stop sending? Mail not sent yet is cancelled.').waitFor();
    await page.locator('[data-action=cancel-campaign-confirm]').click();
    await page.locator('.badge', { hasText: 'cancelled' }).waitFor();
    expect(await page.locator('[data-action=launch-campaign], [data-action=cancel-campaign]').count()).toBe(0);
    // The lease ends and a sweep looks for campaigns to resume: a cancelled one is not taken, none of its mail goes out.
    await rig.gateway.services
      .db('campaigns')
      .where({ id })
      .update({ lease_until: Date.now() - 1 });
    await rig.gateway.campaigns!.sweep();
    await new Promise((r) => setTimeout(r, 500));
    expect((await rig.ok({ Command: 'campaign.get', SessionID, CampaignID: id })).Campaign).toMatchObject({
      Status: 'cancelled',
      Progress: { Queued: 0, Sent: 0 },
    });
    expect(rig.sink.received.filter((m) => /^Subject: Held back/m.test(String(m.raw)))).toEqual([]);
  });

  it('resumes a failed campaign from the page: it goes on from where it stopped, and the figures show its skipped members', async () => {
    const SessionID = (await rig.ok({ Command: 'user.login', Username: username, Password: password })).SessionID;
    const id = (
      await rig.ok({ Command: 'campaign.create', SessionID, CampaignName: 'Interrupted', Subject: 'Interrupted', ListID: listId, PlainContent: 'Hi' })
    ).CampaignID;
    // As a campaign stopped on its first page looks (its quota used up): failed, with its reason and nothing queued.
    await rig.gateway.services
      .db('campaigns')
      .where({ id })
      .update({ status: 'failed', error: 'The daily sending quota is used up', recipients: readers.length, cursor: 0, launched_at: Date.now() });
    await nav('Campaigns').click();
    await page.locator('[data-action=refresh]').click();
    await page.getByRole('link', { name: 'Interrupted', exact: true }).click();
    await page.locator('.badge', { hasText: 'failed' }).waitFor();
    await page.getByText('The daily sending quota is used up').waitFor();
    await page.getByText('Resume goes on from where it stopped', { exact: false }).waitFor();
    expect(await page.locator('[data-action=launch-campaign]').count()).toBe(0);
    await page.locator('[data-action=resume-campaign]').click();
    await page.locator('.badge', { hasText: 'completed' }).waitFor({ timeout: 30_000 });
    await waitFor(async () => (await figure('Delivered')) === readers.length, 30_000, 'every member delivered');
    expect(await figure('Skipped')).toBe(0);
    expect(await page.locator('[data-action=resume-campaign]').count()).toBe(0);
    const got = rig.sink.received.filter((m) => /^Subject: Interrupted/m.test(String(m.raw))).map((m) => m.to[0]);
    expect(got.sort()).toEqual([...readers].sort());
  });
  it('counts a copy cancelled before it was sent, and a finished campaign page stops asking for its progress', async () => {
    const db = rig.gateway.services.db;
    const campaign = await db('campaigns').where({ name: 'March news' }).first('id');
    // One copy of the finished campaign cancelled before it went out (as emailgateway.cancelqueuedmessage leaves it).
    const [copy] = await db('deliveries as d')
      .join('messages as m', 'm.id', 'd.message_id')
      .where('m.campaign_id', campaign.id)
      .orderBy('d.id')
      .limit(1)
      .pluck('d.id');
    await db('deliveries').where({ id: copy }).update({ status: 'cancelled', finished_at: Date.now() });
    const asked: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api.php') && (r.postData() ?? '').includes('"campaign.get"')) asked.push(r.url());
    });
    await nav('Campaigns').click();
    await page.getByRole('link', { name: 'March news', exact: true }).click();
    await page.getByRole('heading', { name: 'March news' }).waitFor();
    await waitFor(async () => (await figure('Cancelled')) === 1, 10_000, 'the cancelled copy counted');
    expect(await figure('Sent')).toBe(readers.length - 1);
    // Nothing is left to answer: before, Sent < Queued kept the page asking every 2 s for as long as it was open.
    const first = asked.length;
    // A timer of the page's own, longer than its 2 s interval: a tick still set comes due first (the page's timers fire
    // in due order, so a starved page waits no less), then a moment for its request to be seen here. Was 4.5 s here.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 2500)));
    await new Promise((r) => setTimeout(r, 300));
    expect(asked.length).toBe(first);
  });

  it('previews a campaign and a template that carry a pasted open pixel and a remote image without fetching either', async () => {
    const db = rig.gateway.services.db;
    const SessionID = (await rig.ok({ Command: 'user.login', Username: username, Password: password })).SessionID;
    // A reader of March news who has not opened it, and the open pixel from the copy they got (same origin as the
    // console here, which the console's own img-src 'self' allows): pasted into new content, as a copy-paste would.
    const march = await db('campaigns').where({ name: 'March news' }).first('id');
    const unread = await db('deliveries as d')
      .join('messages as m', 'm.id', 'd.message_id')
      .where({ 'm.campaign_id': march.id, 'd.status': 'delivered' })
      .whereNull('d.first_opened_at')
      .first('d.id', 'd.recipient');
    const copy = rig.sink.received.find((m) => m.to[0] === unread.recipient && /^Subject: The monthly news/m.test(String(m.raw)))!;
    const pixel = /src="([^"]+\/t\/o\/[^"]+)"/.exec(String((await simpleParser(copy.raw)).html))![1];
    expect(pixel.startsWith(`${rig.base}/t/o/`)).toBe(true);
    // A remote host (loopback here) that counts what reaches it.
    const gif = 'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';
    const hits: string[] = [];
    const remote = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'image/gif' }).end(Buffer.from(gif, 'base64'));
    });
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
    try {
      const dot = `data:image/gif;base64,${gif}`;
      const html = `<h1 id="pasted">Pasted</h1><img src="${pixel}"><img src="http://127.0.0.1:${(remote.address() as AddressInfo).port}/pixel"><img id="dot" src="${dot}">`;
      const templateId = (
        await rig.ok({ Command: 'email.template.create', SessionID, TemplateName: 'Pasted', TemplateSubject: 'Pasted', TemplateHTMLContent: html })
      ).TemplateID;
      const campaignId = (await rig.ok({ Command: 'campaign.create', SessionID, CampaignName: 'Pasted', Subject: 'Pasted', ListID: listId, HTMLContent: html }))
        .CampaignID;
      for (const [at, title] of [
        [`templates/${templateId}`, 'Template preview'],
        [`campaigns/${campaignId}`, 'Campaign preview'],
      ]) {
        await page.goto(`${rig.base}/console/#/${at}`);
        const preview = page.locator(`iframe.preview[title="${title}"]`);
        await preview.contentFrame().locator('#pasted').waitFor();
        // Its load event comes after every image it was allowed to fetch (the tracking route records before answering).
        const frame = (await (await preview.elementHandle())!.contentFrame())!;
        await frame.waitForLoadState('load');
        // The inline image still shows: only fetches are refused.
        expect(await frame.locator('#dot').evaluate((e: any) => e.naturalWidth)).toBe(1);
        const opens = await db('events').where({ delivery_id: unread.id, type: 'opened' }).count({ n: '*' });
        expect({ at, opens: Number(opens[0].n), remote: hits }).toEqual({ at, opens: 0, remote: [] });
      }
    } finally {
      await new Promise((r) => remote.close(r));
    }
  });

  it('narrows the list picker from its search box, and Enter there creates nothing', async () => {
    // Last in the file: with 100 lists or more the picker shows the first 100 and a search box.
    const SessionID = (await rig.ok({ Command: 'user.login', Username: username, Password: password })).SessionID;
    for (let i = 0; i < 100; i += 1)
      await rig.ok({ Command: 'list.create', SessionID, SubscriberListName: `Crowd ${i}`, SenderEmailAddress: `news@${domain}`, SenderName: 'Crowd' });
    const campaigns = async () => Number((await rig.gateway.services.db('campaigns').count({ n: '*' }))[0].n);
    const before = await campaigns();
    await nav('Campaigns').click();
    await page.locator('[data-action=refresh]').click();
    await page.locator('input[name=campaign-name]').fill('Not yet');
    const search = page.locator('input[name=campaign-list-search]');
    await search.fill('Crowd 42');
    await search.press('Enter');
    await waitFor(
      async () => (await page.locator('select[name=campaign-list] option').allTextContents()).join('|') === 'Pick a list|Crowd 42 (0)',
      10_000,
      'the picker to narrow',
    );
    expect(await campaigns()).toBe(before);
    // The box stays while narrowed (it showed only for 100 lists or more), so the search can be changed.
    await search.fill('Crowd 7');
    await waitFor(async () => (await page.locator('select[name=campaign-list] option').count()) === 12, 10_000, 'the picker to show Crowd 7 and 70-79');
    expect(await page.locator('tr[data-campaign="Not yet"]').count()).toBe(0);
  });
});
