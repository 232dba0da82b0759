import path from 'node:path';
import zlib from 'node:zlib';
import type { Locator, Page, Request } from 'playwright-core';
import { addSuppression } from '../../src/suppression/suppressions';
import { ConsoleRig, startConsoleRig, submitSignIn } from '../helpers/console-rig';
import { waitFor } from '../helpers/sink';

/**
 * Every page of the console, with data in it, in headless Chromium at 1280 px and at 390 px: each is reached from the
 * start page in at most two clicks (a navigation link, then a row), and none is wider than the screen. Also the
 * first-load budget (everything the browser fetches until the first page works, gzipped, ≤ 250 KB) and what an
 * action shows while it waits and when Postern does not answer. CONSOLE_SCREENSHOTS=1 refreshes
 * docs/console/mobile-*.png (390 px) and the 1280 px pictures no other test takes.
 */
jest.setTimeout(120_000);

const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/console') : null;
const BUDGET_BYTES = 250 * 1024;
const username = 'lin';
const password = 'wide-and-narrow';
const domain = 'pages.example.com';

let rig: ConsoleRig;
let page: Page;
/** The user's session from the setup, for checking through the API what the console did. */
let userSession: string;

interface PageSpec {
  /** Screenshot name. */
  name: string;
  /** The navigation link: the first click. */
  nav: string;
  /** A link on that page: the second click (optional). */
  then?: string;
  /** The heading that says the page is there. */
  heading: string;
}

const USER_PAGES: PageSpec[] = [
  { name: 'domains', nav: 'Domains', heading: 'Domains' },
  { name: 'domain', nav: 'Domains', then: domain, heading: domain },
  { name: 'credentials', nav: 'Credentials', heading: 'Credentials' },
  { name: 'messages', nav: 'Messages', heading: 'Messages' },
  { name: 'message', nav: 'Messages', then: 'Hello from the pages test', heading: 'Hello from the pages test' },
  { name: 'mailbox', nav: 'Mailbox', heading: 'Mailbox' },
  { name: 'statistics', nav: 'Statistics', heading: 'Statistics' },
  { name: 'suppressions', nav: 'Suppressions', heading: 'Suppressions' },
  { name: 'webhooks', nav: 'Webhooks', heading: 'Webhooks' },
  { name: 'lists', nav: 'Lists', heading: 'Lists' },
  { name: 'list', nav: 'Lists', then: 'Members', heading: 'Members' },
  { name: 'templates', nav: 'Templates', heading: 'Templates' },
  { name: 'template', nav: 'Templates', then: 'Welcome note', heading: 'Welcome note' },
  { name: 'campaigns', nav: 'Campaigns', heading: 'Campaigns' },
  { name: 'campaign', nav: 'Campaigns', then: 'Spring news', heading: 'Spring news' },
];
const ADMIN_PAGES: PageSpec[] = [
  { name: 'admin-users', nav: 'Users', heading: 'Users' },
  { name: 'admin-domains', nav: 'All domains', heading: 'All domains' },
];
/** 1280 px pictures the journey, campaigns and mailbox tests do not take (they show those pages mid-task). */
const WIDE_SHOTS = new Set(['domains', 'lists', 'templates']);

beforeAll(async () => {
  rig = await startConsoleRig();
  const { sessionId: SessionID, domainId: DomainID } = await rig.userWithDomain(username, password, domain);
  userSession = SessionID;
  await rig.ok({ Command: 'emailgateway.addapi', SessionID, DomainID, Description: 'production' });
  await rig.ok({ Command: 'emailgateway.addsmtp', SessionID, DomainID });
  await rig.ok({ Command: 'emailgateway.addsuppression', SessionID, DomainID, EmailAddress: 'bounced@inbox.test' });
  // A deleted domain's kept unsubscribe and hard bounce: the Suppressions page lists them under their own heading.
  const oldId = (await rig.ok({ Command: 'emailgateway.adddomain', SessionID, DomainName: 'old.pages.example.com' })).NewSenderDomainID;
  await addSuppression(rig.gateway.services.db, oldId, 'left@inbox.test', 'unsubscribe', 'clicked the link');
  await addSuppression(rig.gateway.services.db, oldId, 'gone@inbox.test', 'hard_bounce', '550 5.1.1 no such user');
  await rig.ok({ Command: 'emailgateway.deletedomain', SessionID, DomainID: oldId });
  await rig.ok({ Command: 'emailgateway.addwebhook', SessionID, DomainID, Event: 'delivery', WebhookURL: rig.receiver.url('/hooks/pages') });
  const listId = (await rig.ok({ Command: 'list.create', SessionID, SubscriberListName: 'Members', SenderEmailAddress: `news@${domain}` })).ListID;
  for (const email of ['one@inbox.test', 'two@inbox.test']) {
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
  const templateId = (
    await rig.ok({
      Command: 'email.template.create',
      SessionID,
      TemplateName: 'Welcome note',
      TemplateSubject: 'Welcome',
      TemplateHTMLContent: '<h1>Welcome</h1><p>Glad you are here.</p>',
    })
  ).TemplateID;
  const campaignId = (await rig.ok({ Command: 'campaign.create', SessionID, CampaignName: 'Spring news', ListID: listId, TemplateID: templateId })).CampaignID;
  await rig.ok({ Command: 'campaign.launch', SessionID, CampaignID: campaignId });
  const { MessageID } = await rig.ok({
    Command: 'emailgateway.sendtestemail',
    SessionID,
    DomainID,
    ToEmail: 'jane@inbox.test',
    Subject: 'Hello from the pages test',
  });
  await waitFor(
    async () =>
      (await rig.ok({ Command: 'emailgateway.getmessagetimeline', SessionID, MessageID })).Status === 'delivered' &&
      (await rig.ok({ Command: 'campaign.get', SessionID, CampaignID: campaignId })).Campaign.Progress.Delivered === 2,
    20_000,
    'the test email and the campaign to be delivered',
  );
});
afterAll(async () => {
  await rig?.close();
});

async function signIn(kind: 'User' | 'Admin'): Promise<void> {
  await submitSignIn(page, kind === 'Admin' ? { adminKey: rig.adminKey } : { username, password });
}

/** From the start page: the nav link, then (if any) the link on that page; the heading must then be there. */
async function reach(spec: PageSpec): Promise<number> {
  await page.getByRole('link', { name: 'Postern', exact: true }).click();
  let clicks = 0;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: spec.nav, exact: true }).click();
  clicks++;
  if (spec.then) {
    await page.locator('main').getByRole('link', { name: spec.then, exact: true }).first().click();
    clicks++;
  }
  await page.getByRole('heading', { name: spec.heading, exact: true }).waitFor();
  await waitFor(async () => (await page.locator('.busy').count()) === 0, 10_000, `${spec.name} to load`);
  return clicks;
}

/** Elements that stick out past the right edge (empty when the page fits), named so a failure says what to fix. */
const overflow = (width: number) =>
  page.evaluate<string[]>(
    `document.documentElement.scrollWidth <= ${width} ? [] : [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > ${width + 1}).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)`,
  );

/** Lines the main navigation's links take: 1 when they all sit in one row. */
const navRows = () =>
  page.evaluate<number>(`new Set([...document.querySelectorAll('nav[aria-label=Main] a')].map((a) => Math.round(a.getBoundingClientRect().top))).size`);

/** The /api.php commands the page sends from now on, by name, until `stop`: one per Enter or click, none on a disabled button. */
function countCommands(): { times: (command: string) => number; stop: () => void } {
  const sent: string[] = [];
  const count = (req: Request) => {
    if (new URL(req.url()).pathname === '/api.php') sent.push(String((JSON.parse(req.postData() ?? '{}') as { Command?: string }).Command));
  };
  page.on('request', count);
  return { times: (command) => sent.filter((c) => c === command).length, stop: () => page.off('request', count) };
}

/** Types into a field (an input named so, or a locator) and presses Enter there. */
async function enter(field: string | Locator, value: string): Promise<void> {
  const box = typeof field === 'string' ? page.locator(`input[name=${field}]`) : field;
  await box.fill(value);
  await box.press('Enter');
}

/** Marks a field when the browser checks it and finds it invalid (its bubble would cover the refusal): noValidate forms never do. */
const watchInvalid = (field: Locator) => field.evaluate((el) => el.addEventListener('invalid', () => el.setAttribute('data-invalid', '')));
const checkedInvalid = async (field: Locator) => (await field.getAttribute('data-invalid')) !== null;

/** A refused command's ErrorText as the console shows it (codes in an array: their texts joined). */
const shownText = (reply: { ErrorText: string | string[] }) => [reply.ErrorText].flat().join('; ');

/** The refusal an Action shows beside its button. */
const refusalOf = (action: string, within: Page | Locator = page) => within.locator(`[data-action=${action}]`).locator('xpath=..').getByRole('alert');

async function visitAll(pages: PageSpec[], width: number): Promise<void> {
  for (const spec of pages) {
    expect(await reach(spec)).toBeLessThanOrEqual(2);
    expect({ page: spec.name, width, overflow: await overflow(width) }).toEqual({ page: spec.name, width, overflow: [] });
    if (SHOTS && (width < 640 || WIDE_SHOTS.has(spec.name))) {
      await page.screenshot({ path: path.join(SHOTS, `${width < 640 ? 'mobile-' : ''}${spec.name}.png`), fullPage: true });
    }
  }
}

describe('console: every page, both widths', () => {
  it(`first load (everything fetched until the first page works) is at most ${BUDGET_BYTES / 1024} KB gzipped`, async () => {
    const context = await rig.browser.newContext({ viewport: { width: 1280, height: 860 } });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    const fetched: { url: string; gzipped: number }[] = [];
    const pending: Promise<void>[] = [];
    page.on('response', (res) => {
      if (new URL(res.url()).pathname === '/api.php') return; // data, not the console's code
      pending.push(
        res.body().then(
          (b) => void fetched.push({ url: res.url(), gzipped: zlib.gzipSync(b, { level: 9 }).length }),
          () => undefined,
        ),
      );
    });
    await page.goto(`${rig.base}/console/`);
    await signIn('User');
    await page.getByRole('heading', { name: 'Domains' }).waitFor();
    await page.getByRole('link', { name: domain }).waitFor();
    await Promise.all(pending);
    const total = fetched.reduce((a, f) => a + f.gzipped, 0);
    process.stdout.write(`console first load: ${fetched.length} files, ${(total / 1024).toFixed(1)} KB gzipped\n`);
    expect(fetched.some((f) => f.url.endsWith('.js'))).toBe(true);
    expect(fetched.some((f) => f.url.endsWith('.css'))).toBe(true);
    expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('reaches every user page in two clicks at 1280 px, nothing is wider than the screen, and the navigation is one row', async () => {
    await visitAll(USER_PAGES, 1280);
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').count()).toBe(11);
    expect(await navRows()).toBe(1);
  });

  it('reaches every user page in two clicks at 390 px, and nothing is wider than the screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await visitAll(USER_PAGES, 390);
  });

  it('an action says what it is doing while it waits, and says so clearly when Postern does not answer', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await reach({ name: 'suppressions', nav: 'Suppressions', heading: 'Suppressions' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route('**/api.php', async (route) => {
      if (!/emailgateway\.addsuppression/i.test(route.request().postData() ?? '')) return route.continue();
      await gate;
      await route.abort('connectionrefused');
    });
    await page.locator('input[name=suppress-email]').fill('later@inbox.test');
    await page.locator('[data-action=add-suppression]').click();
    await page.locator('[data-action=add-suppression][aria-busy=true]', { hasText: /…/ }).waitFor();
    release();
    await page.getByRole('alert').filter({ hasText: 'Postern did not answer: check that it is running and reachable.' }).waitFor();
    expect(await page.locator('[data-action=add-suppression]').getAttribute('aria-busy')).toBe('false');
    await page.unroute('**/api.php');
  });

  it('lists what a deleted domain kept on the Suppressions page and forgets an address after a confirmation', async () => {
    await reach({ name: 'suppressions', nav: 'Suppressions', heading: 'Suppressions' });
    const section = page.locator('[data-testid=kept-suppressions]');
    const left = section.locator('tr[data-email="left@inbox.test"]');
    await left.waitFor();
    expect(await left.getAttribute('data-domain')).toBe('old.pages.example.com');
    expect(await left.locator('td[data-label=Reason]').textContent()).toBe('unsubscribe');
    await left.locator('[data-action=forget-kept]').click();
    // Asked first: nothing is forgotten yet.
    await left.getByText('Forget? If old.pages.example.com is added again').waitFor();
    const kept = async () =>
      (await rig.ok({ Command: 'emailgateway.getretainedsuppressions', SessionID: userSession, Domain: 'old.pages.example.com' })).Suppressions.map(
        (k: { EmailAddress: string }) => k.EmailAddress,
      );
    expect(await kept()).toEqual(['gone@inbox.test', 'left@inbox.test']);
    await left.locator('[data-action=forget-kept-confirm]').click();
    await left.waitFor({ state: 'detached' });
    await section.locator('tr[data-email="gone@inbox.test"]').waitFor();
    expect(await kept()).toEqual(['gone@inbox.test']);
  });

  it("retries a disabled webhook's failed calls from its log, enables it again, and the receiver gets the call", async () => {
    const db = rig.gateway.services.db;
    const DomainID = (await rig.ok({ Command: 'emailgateway.getdomains', SessionID: userSession })).Domains[0].DomainID;
    const hookId = (await rig.ok({ Command: 'emailgateway.getwebhooks', SessionID: userSession, DomainID })).Webhooks[0].WebhookID;
    // A receiver that was down: the webhook disabled after its failures, one call given up.
    const now = Date.now();
    await db('webhooks')
      .where({ id: hookId })
      .update({ status: 'Disabled', consecutive_failures: 100, disabled_reason: '100 consecutive failed attempts; last: HTTP 503', disabled_at: now });
    await db('webhook_deliveries').insert({
      webhook_id: hookId,
      event_id: 'evt_pages_retry',
      event_type: 'delivered',
      payload: '{"type":"delivered"}',
      status: 'failed',
      attempts: 3,
      next_attempt_at: now,
      last_error: 'webhook disabled',
      created_at: now,
      updated_at: now,
    });
    await reach({ name: 'webhooks', nav: 'Webhooks', heading: 'Webhooks' });
    const hookRow = page.locator(`tr[data-webhook="${hookId}"]`);
    await hookRow.getByText('Disabled', { exact: true }).waitFor();
    await hookRow.locator('[data-action=show-log]').click();
    await page.locator('[data-action=retry-failed]').click();
    expect(await page.getByTestId('retry-outcome').textContent()).toBe('1 failed call(s) queued again; the webhook is enabled again.');
    await hookRow.getByText('Enabled', { exact: true }).waitFor();
    await waitFor(() => rig.receiver.hits.some((hit) => hit.headers['webhook-id'] === 'evt_pages_retry'), 15_000, 'the retried call');
  });

  it('adds a webhook when Enter is pressed in its URL field, as its button does, and shows a refusal the same way', async () => {
    const DomainID = (await rig.ok({ Command: 'emailgateway.getdomains', SessionID: userSession })).Domains[0].DomainID;
    const hooks = async () =>
      (await rig.ok({ Command: 'emailgateway.getwebhooks', SessionID: userSession, DomainID })).Webhooks as {
        WebhookID: number;
        Event: string;
        WebhookURL: string;
      }[];
    const before = await hooks();
    const adds: string[] = [];
    const count = (req: Request) => /emailgateway\.addwebhook/i.test(req.postData() ?? '') && adds.push(req.postData()!);
    page.on('request', count);
    await reach({ name: 'webhooks', nav: 'Webhooks', heading: 'Webhooks' });
    const field = page.locator('input[name=webhookurl]');
    const refusal = page.locator('[data-action=add-webhook]').locator('xpath=..').getByRole('alert');
    // Not a URL: the gateway's refusal beside the button, not the browser's own bubble over the field.
    await field.fill('not a url');
    await field.press('Enter');
    await refusal.waitFor();
    const direct = await rig.api({ Command: 'emailgateway.addwebhook', SessionID: userSession, DomainID, Event: 'delivery', WebhookURL: 'not a url' });
    expect((await refusal.textContent())!.trim()).toBe(direct.ErrorText);
    expect(await hooks()).toEqual(before);

    const url = rig.receiver.url('/hooks/enter-key');
    await page.locator('select[name=event]').selectOption('bounce');
    await field.fill(url);
    await field.press('Enter');
    const added = page.getByTestId('webhooks').locator('tr[data-webhook]', { hasText: url });
    await added.waitFor();
    const after = await hooks();
    expect(after).toHaveLength(before.length + 1);
    const hook = after.find((w) => w.WebhookURL === url)!;
    expect(hook.Event).toMatch(/^bounce/);
    expect(await added.getAttribute('data-webhook')).toBe(String(hook.WebhookID));
    expect((await added.locator('td[data-label=Event]').textContent())!.trim()).toBe(hook.Event);
    // As after a click: the field is emptied and the refusal gone.
    expect(await field.inputValue()).toBe('');
    expect(await refusal.count()).toBe(0);

    // An empty field, as the disabled button: Enter adds nothing.
    await field.press('Enter');
    await new Promise((r) => setTimeout(r, 300));
    page.off('request', count);
    expect(adds).toHaveLength(2);
    expect(await hooks()).toHaveLength(before.length + 1);
  });

  it('adds, creates or saves when Enter is pressed in the other forms, as their buttons do: suppression, domain, list, subscriber, template, campaign', async () => {
    const SessionID = userSession;
    const DomainID = (await rig.ok({ Command: 'emailgateway.getdomains', SessionID })).Domains[0].DomainID;
    const { times, stop } = countCommands();
    /** The id in the address the page went to after a create. */
    const landed = async (route: string) => {
      await page.waitForURL(new RegExp(`#/${route}/\\d+$`));
      return Number(/(\d+)$/.exec(page.url())![1]);
    };

    // Suppressions (an email field): a refusal is the gateway's, beside the button, and the browser does not check the
    // field itself (no 'invalid' event: its bubble would cover the refusal); then the address is added.
    await reach({ name: 'suppressions', nav: 'Suppressions', heading: 'Suppressions' });
    const refusal = refusalOf('add-suppression');
    await page.locator('input[name=suppress-email]').evaluate((el) => el.addEventListener('invalid', () => el.setAttribute('data-invalid', '')));
    await enter('suppress-email', 'not an address');
    await refusal.waitFor();
    const direct = await rig.api({ Command: 'emailgateway.addsuppression', SessionID, DomainID, EmailAddress: 'not an address' });
    expect((await refusal.textContent())!.trim()).toBe(direct.ErrorText);
    expect(await page.locator('input[name=suppress-email]').getAttribute('data-invalid')).toBeNull();
    await enter('suppress-email', 'enter@inbox.test');
    await page.getByTestId('suppressions').locator('tr[data-email="enter@inbox.test"]').waitFor();
    const { Suppressions } = await rig.ok({ Command: 'emailgateway.getsuppressions', SessionID, DomainID, StartFrom: 0, RetrieveCount: 100, Query: 'enter@' });
    expect(Suppressions.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['enter@inbox.test']);
    expect(await page.locator('input[name=suppress-email]').inputValue()).toBe('');
    // The emptied field, as the disabled button: Enter sends nothing.
    await page.locator('input[name=suppress-email]').press('Enter');

    // Domains: the new domain's page.
    await reach({ name: 'domains', nav: 'Domains', heading: 'Domains' });
    await enter('domainname', 'enter.pages.example.com');
    const newDomain = await landed('domains');
    const { Domains } = await rig.ok({ Command: 'emailgateway.getdomains', SessionID });
    expect(Domains.find((d: { DomainID: number }) => d.DomainID === newDomain).SenderDomain).toBe('enter.pages.example.com');

    // Lists: the new list's page, where Enter adds a subscriber.
    await reach({ name: 'lists', nav: 'Lists', heading: 'Lists' });
    await enter('listname', 'Enter list');
    const ListID = await landed('lists');
    expect((await rig.ok({ Command: 'list.get', SessionID, ListID })).List.Name).toBe('Enter list');
    await enter('subscriber-email', 'keyed@inbox.test');
    await page.getByTestId('subscribers').locator('tr[data-subscriber="keyed@inbox.test"]').waitFor();
    const { Subscribers } = await rig.ok({ Command: 'subscribers.get', SessionID, ListID, RecordsPerRequest: 10, RecordsFrom: 0 });
    expect(Subscribers.map((x: { EmailAddress: string }) => x.EmailAddress)).toEqual(['keyed@inbox.test']);

    // Templates: the new template's page, where Enter in its Subject saves the edits.
    await reach({ name: 'templates', nav: 'Templates', heading: 'Templates' });
    await enter('templatename', 'Enter template');
    const TemplateID = await landed('templates');
    await page.getByRole('heading', { name: 'Enter template', exact: true }).waitFor();
    await page.locator('input[name=templatename]').fill('Enter template, renamed');
    await enter('templatesubject', 'Saved by Enter');
    await page.getByText('Saved.', { exact: true }).waitFor();
    const { Template } = await rig.ok({ Command: 'email.template.get', SessionID, TemplateID });
    expect([Template.TemplateName, Template.TemplateSubject]).toEqual(['Enter template, renamed', 'Saved by Enter']);

    // Campaigns: the new draft's page.
    await reach({ name: 'campaigns', nav: 'Campaigns', heading: 'Campaigns' });
    await page.locator('select[name=campaign-list]').selectOption({ label: 'Enter list (1)' });
    await page.locator('select[name=campaign-template]').selectOption({ label: 'Enter template, renamed' });
    await enter('campaign-name', 'Enter campaign');
    const CampaignID = await landed('campaigns');
    const { Campaign } = await rig.ok({ Command: 'campaign.get', SessionID, CampaignID });
    expect([Campaign.CampaignName, Campaign.ListID]).toEqual(['Enter campaign', ListID]);

    stop();
    // Each Enter sent its command once; the Enter on the emptied suppression field sent none.
    expect(
      [
        'emailgateway.addsuppression',
        'emailgateway.adddomain',
        'list.create',
        'subscriber.create',
        'email.template.create',
        'email.template.update',
        'campaign.create',
      ].map(times),
    ).toEqual([2, 1, 1, 1, 1, 1, 1]);
  });

  it('sends a test email, saves domain options and creates an API key when Enter is pressed, as their buttons do; a busy button takes no second Enter', async () => {
    const SessionID = userSession;
    const DomainID = (await rig.ok({ Command: 'emailgateway.getdomains', SessionID })).Domains.find(
      (d: { SenderDomain: string }) => d.SenderDomain === domain,
    ).DomainID;
    const { times, stop } = countCommands();

    // Send test on the Enabled domain: a refusal is the gateway's, beside the button.
    await reach({ name: 'domain', nav: 'Domains', then: domain, heading: domain });
    await watchInvalid(page.locator('input[name=toemail]'));
    await enter('toemail', 'not an address');
    await refusalOf('send-test').waitFor();
    expect(await checkedInvalid(page.locator('input[name=toemail]'))).toBe(false);
    const badTo = await rig.api({ Command: 'emailgateway.sendtestemail', SessionID, DomainID, ToEmail: 'not an address' });
    expect(badTo.Success).toBe(false);
    expect((await refusalOf('send-test').textContent())!.trim()).toBe(badTo.ErrorText);
    // Held at the gateway's door, the busy button takes no second Enter: one message, delivered.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route('**/api.php', async (route) => {
      if (/emailgateway\.sendtestemail/i.test(route.request().postData() ?? '')) await gate;
      await route.continue();
    });
    await enter('toemail', 'keyed@inbox.test');
    await page.locator('[data-action=send-test][aria-busy=true]').waitFor();
    await page.locator('input[name=toemail]').press('Enter');
    release();
    const accepted = page.getByRole('status').filter({ hasText: 'Accepted as' });
    await accepted.waitFor();
    await page.unroute('**/api.php');
    const MessageID = (await accepted.locator('code').textContent())!.trim();
    await waitFor(
      async () => (await rig.ok({ Command: 'emailgateway.getmessagetimeline', SessionID, MessageID })).Status === 'delivered',
      20_000,
      'the test email to be delivered',
    );
    expect(rig.sink.received.filter((m) => m.to.includes('keyed@inbox.test'))).toHaveLength(1);
    expect(await refusalOf('send-test').count()).toBe(0);

    // Options, on a domain of its own (a new return-path host resets its status): a refusal, then the save.
    const other = 'options.pages.example.com';
    const OtherID = (await rig.ok({ Command: 'emailgateway.adddomain', SessionID, DomainName: other })).NewSenderDomainID;
    await reach({ name: 'domain', nav: 'Domains', then: other, heading: other });
    await enter('subdomain', 'not valid!');
    await refusalOf('save-options').waitFor();
    const badSub = await rig.api({ Command: 'emailgateway.updatedomain', SessionID, DomainID: OtherID, Subdomain: 'not valid!' });
    expect(badSub.Success).toBe(false);
    expect((await refusalOf('save-options').textContent())!.trim()).toBe(shownText(badSub));
    await page.locator('input[name=opentracking]').uncheck();
    await enter('subdomain', 'bounces');
    await page.getByText(`Now bounces.${other}.`).waitFor();
    const { Domain } = await rig.ok({ Command: 'emailgateway.getdomain', SessionID, DomainID: OtherID });
    expect([Domain.Options.CustomSubdomain, Domain.Options.OpenTracking, Domain.Options.LinkTracking, Domain.MFROMDomain]).toEqual([
      'bounces',
      0,
      1,
      `bounces.${other}`,
    ]);
    // Its test send (not Enabled): the gateway's refusal beside the button, as on a click.
    await enter('toemail', 'keyed@inbox.test');
    await refusalOf('send-test').waitFor();
    const pending = await rig.api({ Command: 'emailgateway.sendtestemail', SessionID, DomainID: OtherID, ToEmail: 'keyed@inbox.test' });
    expect(pending.Success).toBe(false);
    expect((await refusalOf('send-test').textContent())!.trim()).toBe(pending.ErrorText);

    // Credentials: Enter in the description creates the key and shows its secret once; a click creates one key too.
    await reach({ name: 'credentials', nav: 'Credentials', heading: 'Credentials' });
    await page.locator('select[name=domain]').selectOption(String(DomainID));
    await page.getByTestId('api-keys').waitFor();
    await enter('keydescription', 'keyed by Enter');
    const secret = (await page.getByTestId('secret').textContent())!.trim();
    const keys = async () => (await rig.ok({ Command: 'emailgateway.getapis', SessionID, DomainID })).APIKeys as { APIKey: string; Description: string }[];
    const keyed = (await keys()).filter((k) => k.Description === 'keyed by Enter');
    expect(keyed).toHaveLength(1);
    expect(keyed[0].APIKey.slice(-4)).toBe(secret.slice(-4));
    expect(await page.locator('input[name=keydescription]').inputValue()).toBe('');
    await page.locator('[data-action=secret-done]').click();
    await page.locator('input[name=keydescription]').fill('clicked');
    await page.locator('[data-action=create-key]').click();
    await page.getByTestId('secret').waitFor();
    await page.getByTestId('api-keys').locator('td', { hasText: 'clicked' }).waitFor();
    expect((await keys()).filter((k) => k.Description === 'clicked')).toHaveLength(1);

    stop();
    // One command per Enter or click; none for the Enter on the busy button.
    expect(['emailgateway.sendtestemail', 'emailgateway.updatedomain', 'emailgateway.addapi'].map(times)).toEqual([3, 2, 2]);
  });

  it("keeps the Options form's outcome shown after the save's reload of the domain, on a click and on Enter, with the fields as saved", async () => {
    const SessionID = userSession;
    const moved = 'moved.pages.example.com';
    const MovedID = (await rig.ok({ Command: 'emailgateway.adddomain', SessionID, DomainName: moved })).NewSenderDomainID;
    await reach({ name: 'domain', nav: 'Domains', then: moved, heading: moved });
    const options = page.locator('form', { has: page.getByRole('heading', { name: 'Options', exact: true }) });
    const outcome = options.getByRole('status');
    const changed = 'Saved. The return-path host changed: publish the new records and verify again.';
    const record = (host: string) => page.locator(`table.records tr[data-host="${host}"]`);

    // A click: the reload brings the new return-path record (and the form anew, from the saved values); the note stays.
    await page.locator('input[name=subdomain]').fill('Returns');
    await page.locator('[data-action=save-options]').click();
    await record(`returns.${moved}`).waitFor();
    await page.getByText(`Now returns.${moved}.`).waitFor();
    expect(await outcome.allTextContents()).toEqual([changed]);
    // The gateway stores the label in lower case: the field shows what was saved, not what was typed.
    expect(await page.locator('input[name=subdomain]').inputValue()).toBe('returns');

    // Enter in the field: the same.
    await enter('subdomain', 'bounced');
    await record(`bounced.${moved}`).waitFor();
    expect(await record(`returns.${moved}`).count()).toBe(0);
    expect(await outcome.allTextContents()).toEqual([changed]);

    // A save that leaves the host alone says only Saved, and the box unticked stays unticked after the reload.
    await page.locator('input[name=linktracking]').uncheck();
    await page.locator('[data-action=save-options]').click();
    await outcome.filter({ hasText: /^Saved\.$/ }).waitFor();
    await page.locator('[data-action=save-options][aria-busy=false]').waitFor(); // the reload is done
    expect((await rig.ok({ Command: 'emailgateway.getdomain', SessionID, DomainID: MovedID })).Domain.Options.LinkTracking).toBe(0);
    expect(await page.locator('input[name=linktracking]').isChecked()).toBe(false);
    expect(await outcome.allTextContents()).toEqual(['Saved.']);

    // Another domain's page (only the address changed, not the page shown) does not show this one's outcome.
    const { Domains } = await rig.ok({ Command: 'emailgateway.getdomains', SessionID });
    const firstId = Domains.find((d: { SenderDomain: string }) => d.SenderDomain === domain).DomainID;
    await page.evaluate(`location.hash = '#/domains/${firstId}'`);
    await page.getByRole('heading', { name: domain, exact: true }).waitFor();
    expect(await outcome.count()).toBe(0);
  });

  it('reaches every admin page in one click at both widths', async () => {
    await page.locator('[data-action=sign-out]').click();
    await signIn('Admin');
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width < 640 ? 844 : 860 });
      await visitAll(ADMIN_PAGES, width);
    }
  });

  it('saves a limit typed in the users table, and refuses a cleared one instead of saving it as no limit', async () => {
    await page.setViewportSize({ width: 1280, height: 860 });
    await reach({ name: 'admin-users', nav: 'Users', heading: 'Users' });
    const perDay = async () => {
      const { Users } = await rig.ok({ Command: 'users.get', AdminAPIKey: rig.adminKey, Search: username, RecordsPerRequest: 5, RecordsFrom: 0 });
      return Number(Users.find((u: { Username: string }) => u.Username === username).LimitEmailSendPerDay);
    };
    const row = () => page.locator(`tr[data-user="${username}"]`);
    await row().getByLabel('Per day (0 = no limit)').fill('500');
    await row().locator('[data-action=save-limits]').click();
    await waitFor(async () => (await perDay()) === 500, 10_000, 'the typed limit to be saved');
    // Saving reloads the table: a fresh row.
    await waitFor(async () => (await row().getByLabel('Per day (0 = no limit)').inputValue()) === '500', 10_000, 'the table to show it');
    await row().getByLabel('Per day (0 = no limit)').fill('');
    await row().locator('[data-action=save-limits]').click();
    await row().getByRole('alert').filter({ hasText: 'Per day: enter a whole number (0 = no limit)' }).waitFor();
    expect(await perDay()).toBe(500);
  });

  it('creates a user and saves a row of limits when Enter is pressed, as their buttons do; Enter in the user search only searches', async () => {
    await page.setViewportSize({ width: 1280, height: 860 });
    await reach({ name: 'admin-users', nav: 'Users', heading: 'Users' });
    type Listed = {
      Username: string;
      EmailAddress: string;
      LimitEmailGatewaySenderDomains: string;
      LimitEmailSendPerPeriod: string;
      LimitEmailSendPerDay: string;
    };
    const user = async (name: string) =>
      ((await rig.ok({ Command: 'users.get', AdminAPIKey: rig.adminKey, Search: name, RecordsPerRequest: 5, RecordsFrom: 0 })).Users as Listed[]).find(
        (u) => u.Username === name,
      );
    const linBefore = await user(username);
    const { times, stop } = countCommands();

    // A short password: the gateway's refusal beside the button, no bubble from the browser.
    await page.locator('input[name=new-username]').fill('keyed');
    await page.locator('input[name=new-email]').fill('keyed@example.org');
    await enter('new-password', 'short');
    await refusalOf('create-user').waitFor();
    const direct = await rig.api({
      Command: 'user.create',
      AdminAPIKey: rig.adminKey,
      RelUserGroupID: 1,
      Username: 'keyed',
      Password: 'short',
      EmailAddress: 'keyed@example.org',
      FirstName: 'keyed',
      TimeZone: 'UTC',
      Language: 'en',
      LimitEmailGatewaySenderDomains: 10,
    });
    expect(direct.Success).toBe(false);
    expect((await refusalOf('create-user').textContent())!.trim()).toBe(shownText(direct));
    // A negative limit: the console's own refusal (not the browser's bubble for min=0), and nothing sent.
    await page.locator('input[name=new-password]').fill('long enough, typed');
    await watchInvalid(page.locator('input[name=new-domain-limit]'));
    await enter('new-domain-limit', '-1');
    await refusalOf('create-user').filter({ hasText: 'Sender domains allowed: enter a whole number (0 = no limit)' }).waitFor();
    expect(await checkedInvalid(page.locator('input[name=new-domain-limit]'))).toBe(false);
    // Then Enter in the email field creates the user, who can sign in.
    await page.locator('input[name=new-domain-limit]').fill('3');
    await page.locator('input[name=new-email]').press('Enter');
    await page.locator('tr[data-user="keyed"]').waitFor();
    const made = (await user('keyed'))!;
    expect([made.EmailAddress, Number(made.LimitEmailGatewaySenderDomains)]).toEqual(['keyed@example.org', 3]);
    await rig.ok({ Command: 'user.login', Username: 'keyed', Password: 'long enough, typed' });
    expect(await page.locator('input[name=new-username]').inputValue()).toBe('');

    // Enter in a box of a row's limits saves that row, and only that row.
    const row = page.locator('tr[data-user="keyed"]');
    await enter(row.getByLabel('Per month (0 = no limit)'), '1000');
    await waitFor(async () => Number((await user('keyed'))!.LimitEmailSendPerPeriod) === 1000, 10_000, 'the limit saved by Enter');
    await waitFor(async () => (await row.getByLabel('Per month (0 = no limit)').inputValue()) === '1000', 10_000, 'the table to show it');
    await watchInvalid(row.getByLabel('Per day (0 = no limit)'));
    await enter(row.getByLabel('Per day (0 = no limit)'), '-1');
    await refusalOf('save-limits', row).filter({ hasText: 'Per day: enter a whole number (0 = no limit)' }).waitFor();
    expect(await checkedInvalid(row.getByLabel('Per day (0 = no limit)'))).toBe(false);
    expect(await user(username)).toEqual(linBefore);

    // The search box narrows the table and creates nothing.
    await enter('user-search', 'keyed');
    await waitFor(async () => (await page.locator('tr[data-user]').count()) === 1, 10_000, 'the table to show only keyed');
    expect(await page.locator('tr[data-user]').getAttribute('data-user')).toBe('keyed');

    stop();
    // One user.create per Enter that passed the console's check; one user.update for the limits.
    expect(['user.create', 'user.update'].map(times)).toEqual([2, 1]);
  });

  it('shows a page, not a blank one, for an address with broken percent-encoding', async () => {
    // A fresh load (the session stays: it is kept per tab), then a change of the hash alone.
    await page.goto('about:blank');
    await page.goto(`${rig.base}/console/#/messages/%E0%A4%A`);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.evaluate("location.hash = '#/all-domains/%ZZ'");
    await page.evaluate("location.hash = '#/all-domains'");
    await page.getByRole('heading', { name: 'All domains', exact: true }).waitFor();
  });
});
