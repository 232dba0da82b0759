import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ConsoleRig, startConsoleRig } from '../helpers/console-rig';
import { waitFor } from '../helpers/sink';
import { freePort } from '../helpers/ports';

/**
 * The console's Mailbox page in Chromium against a real gateway in development and capture mode: a message sent
 * through /api/v1/email is listed, read (headers, DKIM, HTML in a frame that runs and loads nothing, so reading it
 * records no open), shown raw and saved as .eml with the exact bytes the API gives; the message page links to it.
 * CONSOLE_SCREENSHOTS=1 also refreshes docs/console/mailbox*.png.
 */
jest.setTimeout(90_000);

let rig: ConsoleRig;
let page: Page;
let messageId: string;
const username = 'reader';
const password = 'correct horse battery';
const domain = 'mailbox.example.test';
const HTML = `<h1 id="greet">Hello {{ Subscriber:EmailAddress }}</h1><p><a href="https://shop.example/x">Shop</a></p><script>parent.__pwned='script'</script><img src="x" onerror="parent.__pwned='img'">`;

beforeAll(async () => {
  // Tracking links on the console's own origin: the open pixel is same-origin, which the console's CSP allows.
  const port = await freePort();
  rig = await startConsoleRig({ POSTERN_DEV: '1', DELIVERY_MODE: 'capture', PORT: String(port), TRACKING_BASE_URL: `http://127.0.0.1:${port}` });
  const ok = (r: any) => {
    if (!r.Success) throw new Error(JSON.stringify(r));
    return r;
  };
  ok(
    await rig.api({
      Command: 'user.create',
      AdminAPIKey: rig.adminKey,
      RelUserGroupID: 1,
      Username: username,
      Password: password,
      EmailAddress: 'r@example.org',
      FirstName: 'R',
      TimeZone: 'UTC',
      Language: 'en',
    }),
  );
  const { SessionID } = ok(await rig.api({ Command: 'user.login', Username: username, Password: password }));
  const { NewSenderDomainID } = ok(await rig.api({ Command: 'emailgateway.adddomain', SessionID, DomainName: domain }));
  expect(ok(await rig.api({ Command: 'emailgateway.verifydomain', SessionID, DomainID: NewSenderDomainID })).Domain.Status).toBe('Enabled');
  const key = ok(await rig.api({ Command: 'emailgateway.addapi', SessionID, DomainID: NewSenderDomainID, Description: 'mailbox' })).APIKey.APIKey;
  const sent = await fetch(`${rig.base}/api/v1/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      Subject: 'Your order shipped',
      ContentType: 'html',
      HTMLContent: HTML,
      PlainContent: 'Hello {{ Subscriber:EmailAddress }}',
      From: { name: 'Shop', email: `shop@${domain}` },
      To: [{ name: 'Jane', email: 'jane@example.org' }],
    }),
  });
  messageId = ((await sent.json()) as { MessageID: string }).MessageID;
  const db = rig.gateway.services.db;
  await waitFor(async () => (await db('deliveries').where({ message_id: messageId }).first())?.status === 'delivered', 15_000, 'the capture');
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true })).newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await rig?.close();
});

const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/console') : null;
async function shot(name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const nav = (label: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true });

describe('console: Mailbox (capture mode)', () => {
  it('lists the captured message and shows it with its envelope, DKIM signature and a preview that runs and loads nothing', async () => {
    await page.goto(`${rig.base}/console/`);
    await page.getByRole('tab', { name: 'User' }).click();
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Domains' }).waitFor();

    await nav('Mailbox').click();
    const row = page.locator('table.mailbox tr[data-captured]');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.locator('td[data-label=To]').textContent()).toBe('jane@example.org');
    await shot('mailbox');
    await row.getByRole('link', { name: 'Your order shipped' }).click();

    await page.getByRole('heading', { name: 'Your order shipped' }).waitFor();
    expect(await page.getByTestId('dkim').textContent()).toBe(`signed by ${domain} (selector key1)`);
    expect(await page.locator('dl.facts').textContent()).toContain(`@sl.${domain}`);
    await page.frameLocator('iframe.preview').locator('#greet', { hasText: 'Hello jane@example.org' }).waitFor();
    // Its load event comes after every image it was allowed to fetch (the tracking route records before answering).
    await (await (await page.locator('iframe.preview').elementHandle())!.contentFrame())!.waitForLoadState('load');
    expect(await page.evaluate<unknown>('window.__pwned')).toBeUndefined();
    // The open pixel (same origin) was not fetched: reading a captured message is not an open.
    const events = await rig.gateway.services.db('events').where({ message_id: messageId }).pluck('type');
    expect(events).not.toContain('opened');
    // Nor is a click on one of its links (same-origin tracking links here): the console's frame-src refuses it.
    const frame = (await (await page.locator('iframe.preview').elementHandle())!.contentFrame())!;
    const link = frame.getByRole('link', { name: 'Shop' });
    expect(await link.getAttribute('href')).toContain(`${rig.base}/t/c/`);
    await link.click();
    await new Promise((r) => setTimeout(r, 500));
    const after = await rig.gateway.services.db('events').where({ message_id: messageId }).pluck('type');
    expect(after).not.toContain('clicked');
    expect(after).not.toContain('opened');
    await shot('mailbox-message');
  });

  it('shows the headers and the raw message, and saves it as .eml byte for byte', async () => {
    await page.getByRole('tab', { name: 'Headers' }).click();
    await page.locator('table.compact th', { hasText: 'DKIM-Signature' }).waitFor();
    await page.getByRole('tab', { name: 'Raw' }).click();
    const raw = (await page.getByTestId('raw').textContent())!;
    expect(raw).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-action=download-eml]').click()]);
    expect(download.suggestedFilename()).toMatch(/^captured-\d+\.eml$/);
    const saved = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const c of saved) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(raw);
  });

  it('is linked from the message page through the delivery reply', async () => {
    await page.goto(`${rig.base}/console/#/messages/${messageId}`);
    await page.getByRole('link', { name: 'Read the captured copy' }).click();
    await page.getByRole('heading', { name: 'Your order shipped' }).waitFor();
  });
});
