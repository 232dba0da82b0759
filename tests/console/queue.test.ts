import type { Page } from 'playwright-core';
import { ConsoleRig, startConsoleRig } from '../helpers/console-rig';
import { smtpError, waitFor } from '../helpers/sink';

/**
 * The Queue page: a delivery the receiver keeps deferring shows with its remote reply and next attempt, and is
 * retried now, held, released and purged from the page through queue.* (the same commands as the CLI and v1).
 */
jest.setTimeout(60_000);

let rig: ConsoleRig;
let page: Page;
let sessionId: string;
let messageId: string;
const username = 'quinn';
const password = 'queue page password';
const slow = 'slow@busy.test';

beforeAll(async () => {
  rig = await startConsoleRig();
  ({ sessionId } = await rig.userWithDomain(username, password, 'queue.example.com'));
  const domains = await rig.ok({ Command: 'emailgateway.getdomains', SessionID: sessionId });
  rig.sink.onRcpt = (to) => (to === slow ? smtpError(451, '4.7.1 Greylisted, come back later') : undefined);
  const sent = await rig.ok({
    Command: 'emailgateway.sendtestemail',
    SessionID: sessionId,
    DomainID: domains.Domains[0].DomainID,
    ToEmail: slow,
    Subject: 'Waits',
  });
  messageId = sent.MessageID;
  await waitFor(async () => (await rig.ok({ Command: 'queue.list', SessionID: sessionId })).Total === 1, 20_000, 'the deferral');
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await rig?.close();
});

const row = () => page.locator(`tr[data-recipient="${slow}"]`);
const attempts = async () => Number((await row().locator('td[data-label=Attempts]').textContent())!.trim());

describe('console: the queue', () => {
  it('lists a deferred delivery with the remote reply, and retries it now', async () => {
    await page.goto(`${rig.base}/console/`);
    await page.getByRole('tab', { name: 'User' }).click();
    await page.locator('input[name=username]').fill(username);
    await page.locator('input[name=password]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Queue', exact: true }).click();
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    await row().waitFor();
    expect(await row().locator('td[data-label="Last reply"]').textContent()).toContain('Greylisted, come back later');
    expect(await row().locator('td[data-label="Next attempt"]').textContent()).not.toBe('');
    const before = await attempts();
    await row().locator('[data-action=retry]').click();
    await waitFor(async () => (await rig.ok({ Command: 'queue.list', SessionID: sessionId })).Deliveries[0]?.Attempts === before + 1, 15_000, 'the retry');
  });

  it('holds it (gone from deferred, shown as held) and releases it', async () => {
    // The retry was still running when the page reloaded its list: Refresh shows it deferred again.
    await page.locator('[data-action=refresh]').click();
    await row().locator('td[data-label=State]', { hasText: 'deferred' }).waitFor();
    await row().locator('[data-action=hold]').click();
    await page.getByText('No deferred deliveries.').waitFor();
    await page.locator('select[name=queue-state]').selectOption('held');
    await row().waitFor();
    expect((await row().locator('td[data-label=State]').textContent())!.trim()).toBe('held');
    await row().locator('[data-action=release]').click();
    await page.getByText('No held deliveries.').waitFor();
    expect((await rig.ok({ Command: 'queue.list', SessionID: sessionId, State: 'all' })).Deliveries[0].State).not.toBe('held');
  });

  it('filters by recipient domain, and purges after a confirmation: the message ends failed', async () => {
    await page.locator('select[name=queue-state]').selectOption('all');
    await page.locator('input[name=queue-search]').fill('elsewhere.test');
    await page.locator('input[name=queue-search]').press('Enter');
    await page.getByText('No deliveries to elsewhere.test.').waitFor();
    await page.locator('input[name=queue-search]').fill('busy.test');
    await page.locator('input[name=queue-search]').press('Enter');
    await row().waitFor();
    await row().locator('[data-action=purge]').click();
    await row().locator('[data-action=purge-confirm]').click();
    await page.getByText('No deliveries to busy.test.').waitFor();
    const timeline = await rig.ok({ Command: 'emailgateway.getmessagetimeline', SessionID: sessionId, MessageID: messageId });
    expect(timeline.Status).toBe('failed');
  });
});
