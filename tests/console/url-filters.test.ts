import type { BrowserContext, Page } from 'playwright-core';
import { ConsoleRig, startConsoleRig, submitSignIn } from '../helpers/console-rig';
import { smtpError, waitFor } from '../helpers/sink';

/**
 * The filters of the message log and the queue live in the address: a reload, Back after opening a message, and a
 * link pasted into a fresh tab show the same filtered list. Typing rewrites the current history entry; a select
 * makes a new one, so Back returns to the previous filter. What the address says is input: a hostile or overlong
 * value is shown as text or ignored, and never runs.
 */
jest.setTimeout(90_000);

let rig: ConsoleRig;
let page: Page;
const username = 'ursula';
const password = 'filters in the address';
const XSS = '<img src=x onerror=window.__pwned=1>';

beforeAll(async () => {
  rig = await startConsoleRig();
  const { sessionId: SessionID, domainId: DomainID } = await rig.userWithDomain(username, password, 'urlf.example.com');
  rig.sink.onRcpt = (to) => (/@(slow|other)\.test$/.test(to) ? smtpError(451, '4.7.1 Greylisted, come back later') : undefined);
  for (const [to, subject] of [
    ['jane@inbox.test', 'For Jane'],
    ['amy@slow.test', 'For Amy'],
    ['bob@other.test', 'For Bob'],
  ]) {
    await rig.ok({ Command: 'emailgateway.sendtestemail', SessionID, DomainID, ToEmail: to, Subject: subject });
  }
  await waitFor(
    async () =>
      (await rig.ok({ Command: 'queue.list', SessionID })).Total === 2 &&
      (await rig.ok({ Command: 'emailgateway.getmessagelog', SessionID, Status: 'delivered' })).Messages.length === 1,
    20_000,
    'one delivery and two deferrals',
  );
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await rig?.close();
});

async function signIn(p: Page): Promise<void> {
  await submitSignIn(p, { username, password });
}

/** The recipients of the rows shown, once they are exactly `want` (the list loads after the address changes). */
async function shows(p: Page, rowSelector: string, cell: string, want: string[]): Promise<void> {
  const seen = async () => (await p.locator(`${rowSelector} td[data-label="${cell}"]`).allTextContents()).map((s) => s.trim()).sort();
  await waitFor(
    async () => JSON.stringify(await seen()) === JSON.stringify([...want].sort()),
    10_000,
    `rows ${want.join(', ')} (saw ${(await seen()).join(', ')})`,
  );
}
const messages = (p: Page, want: string[]) => shows(p, 'tr[data-message]', 'To', want);
const queue = (p: Page, want: string[]) => shows(p, 'tr[data-recipient]', 'Recipient', want);
const hash = (p: Page) => new URL(p.url()).hash;
const historyLength = (p: Page) => p.evaluate<number>('history.length');

describe('console: list filters in the address', () => {
  it('keeps the message log filters in the address, through a reload and Back from a message', async () => {
    await page.goto(`${rig.base}/console/`);
    await signIn(page);
    await page.getByRole('link', { name: 'Messages', exact: true }).click();
    await messages(page, ['amy@slow.test', 'bob@other.test', 'jane@inbox.test']);

    const before = await historyLength(page);
    await page.locator('select[name=status]').selectOption('deferred');
    await messages(page, ['amy@slow.test', 'bob@other.test']);
    expect(hash(page)).toBe('#/messages?status=deferred');
    expect(await historyLength(page)).toBe(before + 1);

    // Typing rewrites the entry (no Back step per keystroke) and applies once it pauses, without pressing Search.
    await page.locator('input[name=recipient]').pressSequentially('amy@slow.test');
    await messages(page, ['amy@slow.test']);
    expect(hash(page)).toBe('#/messages?status=deferred&recipient=amy%40slow.test');
    expect(await historyLength(page)).toBe(before + 1);

    await page.reload();
    await messages(page, ['amy@slow.test']);
    expect(await page.locator('select[name=status]').inputValue()).toBe('deferred');
    expect(await page.locator('input[name=recipient]').inputValue()).toBe('amy@slow.test');

    await page.getByRole('link', { name: 'For Amy' }).click();
    await page.getByRole('heading', { name: 'For Amy' }).waitFor();
    await page.goBack();
    await messages(page, ['amy@slow.test']);
    expect(await page.locator('select[name=status]').inputValue()).toBe('deferred');

    // A select is a step of its own: Back undoes it.
    await page.locator('select[name=status]').selectOption('delivered');
    await page.getByText('No messages match.').waitFor();
    await page.goBack();
    await messages(page, ['amy@slow.test']);
    expect(hash(page)).toBe('#/messages?status=deferred&recipient=amy%40slow.test');
  });

  it('keeps the queue state and recipient domain in the address, through a reload and Back from a message', async () => {
    await page.getByRole('link', { name: 'Queue', exact: true }).click();
    await queue(page, ['amy@slow.test', 'bob@other.test']);
    await page.locator('select[name=queue-state]').selectOption('all');
    await page.locator('input[name=queue-search]').fill('slow.test');
    await queue(page, ['amy@slow.test']);
    expect(hash(page)).toBe('#/queue?state=all&q=slow.test');
    expect(page.url().startsWith(`${rig.base}/console/#/`)).toBe(true);

    await page.reload();
    await queue(page, ['amy@slow.test']);
    expect(await page.locator('select[name=queue-state]').inputValue()).toBe('all');
    expect(await page.locator('input[name=queue-search]').inputValue()).toBe('slow.test');

    await page.getByRole('link', { name: 'amy@slow.test' }).click();
    await page.getByRole('heading', { name: 'For Amy' }).waitFor();
    await page.goBack();
    await queue(page, ['amy@slow.test']);
    expect(await page.locator('input[name=queue-search]').inputValue()).toBe('slow.test');
  });

  it("keeps the suppression search in the address, and another domain's list opens unfiltered", async () => {
    const SessionID = (await rig.ok({ Command: 'user.login', Username: username, Password: password })).SessionID;
    const domains = (await rig.ok({ Command: 'emailgateway.getdomains', SessionID })).Domains as { DomainID: number }[];
    const first = domains[0].DomainID;
    const second = (await rig.ok({ Command: 'emailgateway.adddomain', SessionID, DomainName: 'second.urlf.example.com' })).NewSenderDomainID;
    for (const [DomainID, EmailAddress] of [
      [first, 'zed@inbox.test'],
      [first, 'yan@inbox.test'],
      [second, 'xia@inbox.test'],
      [second, 'wu@inbox.test'],
    ] as const)
      await rig.ok({ Command: 'emailgateway.addsuppression', SessionID, DomainID, EmailAddress });
    const listed = (want: string[]) => shows(page, 'tr[data-email]', 'Address', want);

    await page.goto(`${rig.base}/console/#/suppressions?domain=${first}&q=zed`);
    await listed(['zed@inbox.test']);
    expect(await page.locator('input[name=suppression-search]').inputValue()).toBe('zed');
    await page.locator('select[name=domain]').selectOption(String(second));
    await listed(['wu@inbox.test', 'xia@inbox.test']);
    expect(hash(page)).toBe(`#/suppressions?domain=${second}`);
    expect(await page.locator('input[name=suppression-search]').inputValue()).toBe('');
  });

  describe('a link opened in a fresh tab', () => {
    let context: BrowserContext;
    let fresh: Page;
    const errors: string[] = [];
    beforeAll(async () => {
      context = await rig.browser.newContext({ viewport: { width: 1280, height: 860 } });
      fresh = await context.newPage();
      fresh.setDefaultTimeout(15_000);
      fresh.on('pageerror', (e) => errors.push(e.message));
    });
    afterAll(async () => {
      await context?.close();
    });
    const pwned = () => fresh.evaluate<unknown>('window.__pwned');

    it('shows the filtered queue once signed in, and a pasted message log link', async () => {
      await fresh.goto(`${rig.base}/console/#/queue?q=other.test`);
      await signIn(fresh);
      await queue(fresh, ['bob@other.test']);
      expect(await fresh.locator('select[name=queue-state]').inputValue()).toBe('deferred');

      await fresh.goto('about:blank');
      await fresh.goto(`${rig.base}/console/#/messages?status=delivered`);
      await messages(fresh, ['jane@inbox.test']);
    });

    it('shows a hostile value as text and ignores one that is not a choice, malformed or overlong', async () => {
      const odd = new URLSearchParams({ recipient: XSS, status: '<script>', domain: '1 or 1=1', before: 'x,y', from: 'yesterday' });
      await fresh.goto('about:blank');
      await fresh.goto(`${rig.base}/console/#/messages?${odd}&tag=%E0%A4%A`);
      await fresh.getByText('No messages match.').waitFor();
      expect(await fresh.locator('input[name=recipient]').inputValue()).toBe(XSS);
      expect(await fresh.locator('select[name=status]').inputValue()).toBe('');
      expect(await fresh.locator('input[name=from]').inputValue()).toBe('');

      await fresh.goto('about:blank');
      await fresh.goto(`${rig.base}/console/#/queue?${new URLSearchParams({ state: XSS, q: XSS, page: '-1' })}`);
      // queue.list refuses a recipient domain that is not a domain name: the page says so, as text, and stays usable.
      await fresh.getByRole('alert').waitFor();
      expect(await fresh.locator('input[name=queue-search]').inputValue()).toBe(XSS);
      expect(await fresh.locator('select[name=queue-state]').inputValue()).toBe('deferred');

      await fresh.goto('about:blank');
      await fresh.goto(`${rig.base}/console/#/queue?state=all&q=${'a'.repeat(5000)}&page=99999999999`);
      await queue(fresh, ['amy@slow.test', 'bob@other.test']);
      expect(await fresh.locator('input[name=queue-search]').inputValue()).toBe('');

      await fresh.waitForTimeout(300); // give a handler the chance it must not get
      expect(await fresh.locator('#app img, #app script').count()).toBe(0);
      expect(await pwned()).toBeUndefined();
      expect(errors).toEqual([]);
    });
  });
});
