import type { Page } from 'playwright-core';
import { ConsoleRig, startConsoleRig } from '../helpers/console-rig';
import { chunks } from '../helpers/dns-zone';
import { smtpError, waitFor } from '../helpers/sink';

/**
 * Values an attacker controls (a subscriber's field through the public subscribe form, a key description, a
 * list, template or campaign name, a remote mail server's reply, what DNS answers for the domain's records)
 * reach the console's pages as text, never as markup; a template's HTML runs nothing
 * in its preview; and /console/ carries a CSP that refuses inline script even if markup got in.
 */
jest.setTimeout(60_000);

let rig: ConsoleRig;
let page: Page;
let messageId: string;
let domainName: string;
const username = 'mallory';
const password = 'correct horse battery';

const XSS_IMG = `<img src=x onerror="window.__pwned='subscriber'">`;
const XSS_KEY = `"><script>window.__pwned='key'</script>`;
const XSS_LIST = `<img src=x onerror="window.__pwned='list'">`;
const XSS_CAMPAIGN = `"><script>window.__pwned='campaign'</script>`;
const XSS_SUBJECT = `<img src=x onerror="window.__pwned='subject'">`;
// A receiving server's refusal, quoted back in the message's timeline.
const XSS_REPLY = `5.1.1 <img src=x onerror="window.__pwned='smtp'"> no such user`;
// A TXT record the domain's owner (or whoever holds its DNS) publishes: shown as what DNS found.
const XSS_TXT = `"><script>window.__pwned='dns'</script>`;
const TEMPLATE_HTML = `<p id="hi" style="color: rgb(204, 0, 0)">Hi</p><script>parent.__pwned='template'</script><img src="x" onerror="parent.__pwned='tplimg'">`;

beforeAll(async () => {
  rig = await startConsoleRig();
  const ok = (r: any) => {
    if (!r.Success) throw new Error(JSON.stringify(r));
    return r;
  };
  const { sessionId: SessionID, domainId } = await rig.userWithDomain(username, password, 'hostile.example.com');
  ok(await rig.api({ Command: 'emailgateway.addapi', SessionID, DomainID: domainId, Description: XSS_KEY }));
  const list = ok(await rig.api({ Command: 'list.create', SessionID, SubscriberListName: XSS_LIST, Description: XSS_KEY }));
  const field = ok(await rig.api({ Command: 'customfield.create', SessionID, ListID: list.ListID, FieldName: 'Name' }));
  // The public subscribe form: anyone on the internet can put this value in the list.
  ok(
    await rig.api({
      Command: 'subscriber.subscribe',
      ListID: list.ListID,
      EmailAddress: 'victim@example.org',
      IPAddress: '192.0.2.1',
      [`CustomField${field.CustomFieldID}`]: XSS_IMG,
    }),
  );
  ok(await rig.api({ Command: 'email.template.create', SessionID, TemplateName: '<b>bold</b>', TemplateSubject: 'x', TemplateHTMLContent: TEMPLATE_HTML }));
  ok(
    await rig.api({ Command: 'campaign.create', SessionID, CampaignName: XSS_CAMPAIGN, Subject: XSS_SUBJECT, ListID: list.ListID, HTMLContent: TEMPLATE_HTML }),
  );
  rig.sink.onRcpt = (to) => (to === 'refuses@inbox.test' ? smtpError(550, XSS_REPLY) : undefined);
  const sent = ok(await rig.api({ Command: 'emailgateway.sendtestemail', SessionID, DomainID: domainId, ToEmail: 'refuses@inbox.test', Subject: 'Refused' }));
  messageId = sent.MessageID;
  await waitFor(
    async () => ok(await rig.api({ Command: 'emailgateway.getmessagetimeline', SessionID, MessageID: messageId })).Status === 'bounced',
    20_000,
    'the refusal',
  );
  domainName = 'hostile.example.com';
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await rig?.close();
});

const pwned = () => page.evaluate<unknown>('window.__pwned');

describe('console: hostile values are text, and the CSP holds', () => {
  it('serves /console/ with a strict CSP, X-Frame-Options DENY and no referrer', async () => {
    const res = (await page.goto(`${rig.base}/console/`))!;
    const h = res.headers();
    expect(h['content-security-policy']).toContain("script-src 'self'");
    expect(h['content-security-policy']).toContain("default-src 'none'");
    expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(h['content-security-policy']).toContain("frame-src 'none'");
    expect(h['content-security-policy']).not.toMatch(/script-src[^;]*unsafe/);
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['x-content-type-options']).toBe('nosniff');
    // Even markup that got in could not run: the browser refuses an inline script on this page.
    const ran = await page.evaluate<boolean>(
      `(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.head.appendChild(s); return window.__inline === 1; })()`,
    );
    expect(ran).toBe(false);
  });

  it('shows a key description, a list name and a subscriber field as the text they are', async () => {
    await page.getByRole('tab', { name: 'User' }).click();
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Domains' }).waitFor();

    await page.getByRole('link', { name: 'Credentials', exact: true }).click();
    await page.getByText(XSS_KEY, { exact: true }).waitFor();

    await page.getByRole('link', { name: 'Lists', exact: true }).click();
    await page.getByRole('link', { name: XSS_LIST, exact: true }).click();
    await page.getByRole('heading', { name: XSS_LIST }).waitFor();
    const row = page.locator('tr[data-subscriber="victim@example.org"]');
    await row.waitFor();
    expect((await row.locator('td.fields').textContent())!.trim()).toBe(`Name: ${XSS_IMG}`);
    expect(await page.locator('#app img[src=x], #app script').count()).toBe(0);
    expect(await pwned()).toBeUndefined();
  });

  it('previews a template in a sandbox: its styles apply, its script and handlers do not run', async () => {
    await page.getByRole('link', { name: 'Templates', exact: true }).click();
    await page.getByRole('link', { name: '<b>bold</b>', exact: true }).click();
    await page.getByRole('heading', { name: '<b>bold</b>' }).waitFor();
    const frame = page.frameLocator('iframe.preview');
    await frame.locator('#hi').waitFor();
    expect(await page.locator('iframe.preview').getAttribute('sandbox')).toBe('');
    expect(await frame.locator('#hi').evaluate((e: any) => e.ownerDocument.defaultView.getComputedStyle(e).color)).toBe('rgb(204, 0, 0)');
    await page.waitForTimeout(300); // give a handler the chance it must not get
    expect(await pwned()).toBeUndefined();
  });

  it("shows a campaign's name and subject as text, on the list and on its page, and previews its HTML in a sandbox", async () => {
    await page.getByRole('link', { name: 'Campaigns', exact: true }).click();
    const row = page.locator('tr[data-campaign]').first();
    await row.waitFor();
    expect((await row.locator('td[data-label=Campaign] a').textContent())!.trim()).toBe(XSS_CAMPAIGN);
    expect((await row.locator('td[data-label=Campaign] .hint').textContent())!.trim()).toBe(XSS_SUBJECT);
    await row.getByRole('link', { name: XSS_CAMPAIGN, exact: true }).click();
    await page.getByRole('heading', { name: XSS_CAMPAIGN }).waitFor();
    await page.getByText(XSS_SUBJECT, { exact: true }).waitFor();
    expect(await page.locator('iframe.preview').getAttribute('sandbox')).toBe('');
    await page.frameLocator('iframe.preview').locator('#hi').waitFor();
    await page.waitForTimeout(300);
    expect(await page.locator('#app img[src=x], #app script').count()).toBe(0);
    expect(await pwned()).toBeUndefined();
  });

  it("shows a remote server's refusal on the message page as text", async () => {
    await page.goto(`${rig.base}/console/#/messages/${messageId}`);
    const card = page.locator('[data-recipient="refuses@inbox.test"]');
    await card.locator('.badge', { hasText: 'bounced' }).waitFor();
    expect(await card.locator('code').first().textContent()).toContain(XSS_REPLY);
    expect(await card.locator('.timeline').textContent()).toContain(XSS_REPLY);
    expect(await page.locator('#app img[src=x], #app script').count()).toBe(0);
    expect(await pwned()).toBeUndefined();
  });

  it('shows what DNS answered for a record as text when verifying the domain', async () => {
    // Whoever holds the domain's DNS publishes markup in every TXT record the gateway asks for.
    const txt = page.locator('table.records tbody tr').filter({ has: page.locator('td[data-label=Type]', { hasText: 'TXT' }) });
    await page.getByRole('link', { name: 'Domains', exact: true }).click();
    await page.getByRole('link', { name: domainName, exact: true }).click();
    await txt.first().waitFor();
    for (const host of await txt.evaluateAll((rows: any[]) => rows.map((r) => r.getAttribute('data-host') as string)))
      rig.dns.zone.set(host, { txt: [chunks(XSS_TXT)] });
    await page.locator('[data-action=verify]').click();
    await page.getByText(`Found: ${XSS_TXT}`, { exact: true }).first().waitFor();
    expect(await page.locator('#app script, #app img[src=x]').count()).toBe(0);
    expect(await pwned()).toBeUndefined();
  });
});
