import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { chunks } from '../helpers/dns-zone';
import { ConsoleRig, startConsoleRig } from '../helpers/console-rig';
import { waitFor } from '../helpers/sink';

/**
 * The console's whole first day in headless Chromium against a real gateway: admin creates a user, the user
 * adds and verifies a domain, makes a key, sends a test email and follows it, reads the chart, manages a
 * suppression and a webhook, signs out (a sign-out the server did not confirm keeps the session and says so).
 * CONSOLE_SCREENSHOTS=1 also refreshes docs/console/*.png.
 */
jest.setTimeout(120_000);

const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../docs/console') : null;

let rig: ConsoleRig;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  rig = await startConsoleRig();
  context = await rig.browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.base });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
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
// Browser-side code goes as strings: the tests' tsconfig has no DOM types.
const clipboard = () => page.evaluate<string>('navigator.clipboard.readText()');
const storedSession = () => page.evaluate<string | null>("sessionStorage.getItem('postern.session')");

describe('console journey (Chromium, embedded gateway)', () => {
  const username = `ada${Date.now() % 100000}`;
  const password = 'analytical-engine';
  const domain = 'news.example.com';

  it('admin signs in (a wrong key shows the API error), creates a user, signs out', async () => {
    await page.goto(`${rig.base}/console/`);
    await page.getByRole('tab', { name: 'Admin' }).click();
    await page.locator('input[name=adminapikey]').fill('wrong-key-wrong-key');
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid admin credentials' }).waitFor();
    await page.locator('input[name=adminapikey]').fill(rig.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();

    await page.locator('input[name=new-username]').fill(username);
    await page.locator('input[name=new-password]').fill(password);
    await page.locator('input[name=new-email]').fill(`${username}@example.org`);
    await page.locator('[data-action=create-user]').click();
    await page.locator(`tr[data-user="${username}"]`).waitFor();
    await shot('admin-users');
    await nav('All domains').click();
    await page.getByRole('heading', { name: 'All domains' }).waitFor();

    await page.locator('[data-action=sign-out]').click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await storedSession()).toBeNull();
  });

  it('the user signs in, adds a domain, copies its records into DNS, verifies: Enabled', async () => {
    await page.getByRole('tab', { name: 'User' }).click();
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Domains' }).waitFor();
    // No cookie carries the session: it is in sessionStorage and each request body.
    expect(await context.cookies()).toEqual([]);

    await page.locator('input[name=domainname]').fill(domain);
    await page.locator('[data-action=add-domain]').click();
    await page.getByRole('heading', { name: domain }).waitFor();
    await expect(page.locator('.badge').first().textContent()).resolves.toBe('Approval Pending');

    // Publish exactly what the copy buttons put on the clipboard.
    const rows = page.locator('table.records tbody tr');
    const n = await rows.count();
    expect(n).toBe(4);
    for (let i = 0; i < n; i++) {
      const row = rows.nth(i);
      await row.locator('[data-action=copy-host]').click();
      const host = await clipboard();
      await row.locator('[data-action=copy-value]').click();
      const value = await clipboard();
      const type = (await row.locator('td[data-label=Type]').textContent())!.trim();
      expect(host).toBe(await row.getAttribute('data-host'));
      rig.dns.zone.set(host, type === 'CNAME' ? { cname: value } : { txt: [chunks(value)] });
    }
    await shot('domain-pending');
    await page.locator('[data-action=verify]').click();
    await page.getByText('Every required record is right: the domain is Enabled.').waitFor();
    // The message comes with verifydomain's answer; the badge with the domain's reload after it.
    await waitFor(async () => (await page.locator('.badge').first().textContent()) === 'Enabled', 10_000, 'the Enabled badge');
    expect(await page.locator('td.result .ok').count()).toBe(4);
    await shot('domain');
  });

  it('creates a key (shown once, then masked) and sends a test email that shows as delivered with its timeline', async () => {
    await nav('Credentials').click();
    await page.locator('input[name=keydescription]').fill('production');
    await page.locator('[data-action=create-key]').click();
    const secret = (await page.getByTestId('secret').textContent())!.trim();
    expect(secret).toMatch(/^eg_live_[A-Za-z0-9]{32}$/);
    await page.locator('[data-action=copy-secret]').click();
    expect(await clipboard()).toBe(secret);
    await shot('credentials-secret');
    await page.locator('[data-action=secret-done]').click();
    const listed = (await page.getByTestId('api-keys').locator('tbody code').first().textContent())!.trim();
    expect(listed).toMatch(/^eg_live_\*+/);
    expect(listed.slice(-4)).toBe(secret.slice(-4));
    expect(await page.content()).not.toContain(secret);
    await page.locator('[data-action=create-smtp]').click();
    await page.getByTestId('secret').waitFor();
    await page.getByText('smtp.console.test').waitFor();
    await page.locator('[data-action=secret-done]').click();
    await shot('credentials');

    await nav('Domains').click();
    await page.getByRole('link', { name: domain }).click();
    await page.locator('input[name=toemail]').fill('jane@inbox.test');
    await page.locator('[data-action=send-test]').click();
    await page.getByRole('link', { name: /Follow it in the message log/ }).click();
    await page.locator('[data-recipient="jane@inbox.test"] .badge', { hasText: 'delivered' }).waitFor({ timeout: 20_000 });
    const timeline = await page.locator('[data-recipient="jane@inbox.test"] .timeline strong').allTextContents();
    expect(timeline).toEqual(['queued', 'delivered']);
    expect(await page.locator('[data-recipient="jane@inbox.test"] .timeline').textContent()).toMatch(/250/);
    // The rig's sink offers no STARTTLS: the delivered copy says it went in clear.
    expect(await page.locator('[data-recipient="jane@inbox.test"] .ev-delivered').textContent()).toMatch(/· no TLS$/);
    expect(rig.sink.received.some((m) => m.to.includes('jane@inbox.test'))).toBe(true);
    await shot('message');

    await nav('Messages').click();
    await page.locator('tr[data-message]', { hasText: 'jane@inbox.test' }).waitFor();
    await page.locator('input[name=recipient]').fill('nobody@inbox.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No messages match.').waitFor();
    await page.locator('input[name=recipient]').fill('JANE@inbox.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('tr[data-message]', { hasText: 'jane@inbox.test' }).waitFor();
    await shot('messages');
  });

  it("the statistics chart draws the day's delivered mail", async () => {
    await nav('Statistics').click();
    const chart = page.getByRole('img', { name: 'Messages per day' });
    await chart.waitFor();
    await waitFor(async () => Number(await chart.getAttribute('data-total')) > 0, 10_000, 'chart data');
    // The Delivered line (#16a34a) is on the canvas: uPlot drew the data, not just the axes.
    const drawn = await chart.locator('canvas').evaluate((c: any) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let hits = 0;
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i] - 0x16) < 24 && Math.abs(d[i + 1] - 0xa3) < 24 && Math.abs(d[i + 2] - 0x4a) < 24 && d[i + 3] > 200) hits++;
      return hits;
    });
    expect(drawn).toBeGreaterThan(0);
    await page.getByRole('img', { name: 'Delivery speed to inbox.test' }).waitFor();
    await shot('statistics');
  });

  it('adds and removes a suppression', async () => {
    await nav('Suppressions').click();
    await page.locator('input[name=suppress-email]').fill('Bounce@Inbox.test');
    await page.locator('[data-action=add-suppression]').click();
    const row = page.locator('tr[data-email="bounce@inbox.test"]');
    await row.waitFor();
    await shot('suppressions');
    await row.locator('[data-action=remove-suppression]').click();
    await row.locator('[data-action=remove-suppression-confirm]').click();
    await page.getByText('No suppressed addresses.').waitFor();
  });

  it("adds a webhook and sees its delivery log with the receiver's status code", async () => {
    await nav('Webhooks').click();
    await page.locator('input[name=webhookurl]').fill('ftp://example.org/hook');
    await page.locator('[data-action=add-webhook]').click();
    await page
      .locator('.error')
      .filter({ hasText: /http|URL/i })
      .first()
      .waitFor();
    await page.locator('input[name=webhookurl]').fill(rig.receiver.url('/hooks/postern'));
    await page.locator('[data-action=add-webhook]').click();
    await page.getByTestId('webhooks').locator('tr[data-webhook]').waitFor();

    const r = await rig.api({ Command: 'user.login', Username: username, Password: password });
    const domains = await rig.api({ Command: 'emailgateway.getdomains', SessionID: r.SessionID });
    await rig.api({ Command: 'emailgateway.sendtestemail', SessionID: r.SessionID, DomainID: domains.Domains[0].DomainID, ToEmail: 'hook@inbox.test' });
    await waitFor(() => rig.receiver.hits.length > 0, 20_000, 'the webhook call');

    await page.locator('[data-action=show-log]').click();
    await waitFor(
      async () => {
        await page.locator('[data-action=refresh-log]').click();
        await page.locator('[data-action=refresh-log]', { hasText: 'Refresh' }).waitFor();
        return (await page.getByTestId('http-status').allTextContents()).includes('200');
      },
      15_000,
      'a 200 in the webhook log',
    );
    await shot('webhooks');
  });

  it('creates a list, adds and unsubscribes a subscriber, edits a template with a live preview', async () => {
    await nav('Lists').click();
    await page.locator('input[name=listname]').fill('Newsletter');
    await page.locator('[data-action=create-list]').click();
    await page.getByRole('heading', { name: 'Newsletter' }).waitFor();
    await page.locator('input[name=subscriber-email]').fill('reader@inbox.test');
    await page.locator('[data-action=add-subscriber]').click();
    const row = page.locator('tr[data-subscriber="reader@inbox.test"]');
    await row.locator('.badge', { hasText: 'Subscribed' }).waitFor();
    await row.locator('[data-action=unsubscribe]').click();
    await row.locator('.badge', { hasText: 'Unsubscribed' }).waitFor();
    await shot('list');

    await nav('Templates').click();
    await page.locator('input[name=templatename]').fill('Welcome');
    await page.locator('[data-action=create-template]').click();
    await page.getByRole('heading', { name: 'Welcome' }).waitFor();
    await page.locator('textarea[name=templatehtml]').fill('<h1 id="t">Welcome aboard</h1><p style="color:#1d4ed8">Glad you are here.</p>');
    await page.frameLocator('iframe.preview').locator('#t', { hasText: 'Welcome aboard' }).waitFor();
    await page.locator('[data-action=save-template]').click();
    await page.getByText('Saved.').waitFor();
    await shot('template');
  });

  it('keeps the session, and says so, when the server did not end it: no answer, an error page, an outage', async () => {
    const sid = JSON.parse((await storedSession())!).id as string;
    const failures: [string, (r: Route) => Promise<void>][] = [
      ['Postern did not answer', (r) => r.abort('connectionrefused')],
      ['HTTP 502 without a readable reply', (r) => r.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad Gateway</h1>' })],
      [
        'Service temporarily unavailable',
        (r) =>
          r.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({ Success: false, ErrorCode: 100007, ErrorText: 'Service temporarily unavailable' }),
          }),
      ],
    ];
    for (const [reason, fail] of failures) {
      await page.route('**/api.php', (r) => (/"user\.logout"/.test(r.request().postData() ?? '') ? fail(r) : r.continue()));
      await page.locator('[data-action=sign-out]').click();
      const alert = page.getByRole('alert').filter({ hasText: 'Could not sign out: the session is still active on the server. Try again.' });
      await alert.filter({ hasText: reason }).waitFor();
      await page.unroute('**/api.php');
      // Still signed in, here and on the server, so Sign out can be tried again.
      expect(JSON.parse((await storedSession())!).id).toBe(sid);
      expect(await page.getByTestId('who').textContent()).toBe(`User: ${username}`);
      expect(await rig.api({ Command: 'emailgateway.getdomains', SessionID: sid })).toMatchObject({ Success: true });
    }
    // On a phone the error takes a row of its own: the user label keeps its text's width and nothing runs off-screen.
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const layout = await page.evaluate<{ label: number[]; page: number[]; header: number[] }>(`(() => {
        const who = document.querySelector('[data-testid=who]');
        const rights = [...document.querySelectorAll('header.top *')].map((e) => Math.ceil(e.getBoundingClientRect().right));
        return { label: [who.scrollWidth, who.clientWidth], page: [document.documentElement.scrollWidth, innerWidth], header: [Math.max(...rights), innerWidth] };
      })()`);
      expect(layout.label[0]).toBeLessThanOrEqual(layout.label[1]);
      expect(layout.page[0]).toBeLessThanOrEqual(layout.page[1]);
      expect(layout.header[0]).toBeLessThanOrEqual(layout.header[1]);
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  it('signs out: the session is revoked on the server and forgotten by the tab', async () => {
    const sid = JSON.parse((await storedSession())!).id as string;
    await page.locator('[data-action=sign-out]').click();
    await page.getByText('You are signed out.').waitFor();
    expect(await storedSession()).toBeNull();
    expect(await rig.api({ Command: 'emailgateway.getdomains', SessionID: sid })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });

  it("the admin sees every user's domains", async () => {
    await page.getByRole('tab', { name: 'Admin' }).click();
    await page.locator('input[name=adminapikey]').fill(rig.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await nav('All domains').click();
    await page.getByRole('cell', { name: domain }).waitFor();
    await page.getByRole('cell', { name: username }).waitFor();
    await shot('admin-domains');
  });

  it('signs out a session the server has already ended (signed out elsewhere): the tab forgets it too', async () => {
    const sid = JSON.parse((await storedSession())!).id as string;
    await rig.ok({ Command: 'admin.logout', SessionID: sid });
    expect(await page.evaluate<string>('location.hash')).not.toBe('');
    await page.locator('[data-action=sign-out]').click();
    await page.getByText('Your session has ended').waitFor();
    expect(await storedSession()).toBeNull();
    // Signed out as after a confirmed sign-out (the route left behind), not as after a failed one.
    // A function, not a string: the console's CSP refuses a string predicate's eval once it has to poll.
    await page.waitForFunction(() => (globalThis as unknown as { location: { hash: string } }).location.hash === '', undefined, { timeout: 5000 });
  });
});
