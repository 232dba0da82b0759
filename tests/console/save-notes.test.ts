import type { Locator, Page } from 'playwright-core';
import { ConsoleRig, startConsoleRig, submitSignIn } from '../helpers/console-rig';
import { waitFor } from '../helpers/sink';

/**
 * What a form says after a save, read as the user sees it: "Saved." only while the form shows what was saved. A new
 * save drops the last note (a failure shows only its error), an edit to any field drops it, and the admin's per-user
 * limits say so in their own row, after the table's reload. The same holds for the other notes of a success: the
 * admin's "Created …", a test send's "Accepted as …" and the All domains page's suspend or lift.
 */
jest.setTimeout(90_000);

let rig: ConsoleRig;
let page: Page;
let session: string;
let domainId: number;
const username = 'sam';
const password = 'save notes password';
const other = 'ola';

beforeAll(async () => {
  rig = await startConsoleRig();
  ({ sessionId: session, domainId } = await rig.userWithDomain(username, password, 'notes.example.com'));
  await rig.ok({
    Command: 'user.create',
    AdminAPIKey: rig.adminKey,
    RelUserGroupID: 1,
    Username: other,
    Password: 'another password',
    EmailAddress: `${other}@example.org`,
    FirstName: other,
    TimeZone: 'UTC',
    Language: 'en',
  });
});
afterAll(async () => {
  await rig?.close();
});

/** A tab of its own (the console keeps its session per tab), signed in. */
async function signIn(kind: 'User' | 'Admin'): Promise<void> {
  await page?.context().close();
  page = await (await rig.browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.setDefaultTimeout(15_000);
  await page.goto(`${rig.base}/console/`);
  await submitSignIn(page, kind === 'Admin' ? { adminKey: rig.adminKey } : { username, password });
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** The visible text of a form's notes and errors, in page order. */
const shown = (form: Locator) => form.locator('[role=status], [role=alert]').allInnerTexts();

/** Waits until the form shows exactly `texts` (notes and errors); fails with what it shows instead. */
async function shows(form: Locator, texts: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (JSON.stringify(await shown(form)) !== JSON.stringify(texts) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  expect(await shown(form)).toEqual(texts);
}

/** The next call of `command` the page makes fails as `how` says; every other call goes through. */
async function failNext(command: string, how: 'no answer' | { ErrorCode: number; ErrorText: string }): Promise<void> {
  let once = true;
  await page.route('**/api.php', async (route) => {
    if (!once || !(route.request().postData() ?? '').includes(`"${command}"`)) return route.fallback();
    once = false;
    if (how === 'no answer') return route.abort('connectionrefused');
    return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ Success: false, ...how }) });
  });
}

const NO_ANSWER = 'Postern did not answer: check that it is running and reachable.';

describe('console: save notes', () => {
  afterEach(async () => {
    await page.unroute('**/api.php');
  });

  it('the template editor: a failed save shows only its error, and an edit to the name, subject or HTML drops "Saved."', async () => {
    const { TemplateID } = await rig.ok({
      Command: 'email.template.create',
      SessionID: session,
      TemplateName: 'Notes',
      TemplateSubject: 'Hello',
      TemplateHTMLContent: '<p>Hi</p>',
    });
    await signIn('User');
    await page.evaluate(`location.hash = '#/templates/${TemplateID}'`);
    const form = page.locator('form', { has: page.locator('[data-action=save-template]') });
    const button = form.locator('[data-action=save-template]');
    await form.locator('input[name=templatename]').waitFor();

    await button.click();
    await shows(form, ['Saved.']);
    // Saved again without an edit, and Postern does not answer: the error alone, not beside the last "Saved.".
    await failNext('email.template.update', 'no answer');
    await button.click();
    await shows(form, [NO_ANSWER]);
    await button.click();
    await shows(form, ['Saved.']);

    // Each field on its own: its edit drops the note, and the next save says Saved again.
    for (const [field, value] of [
      ['input[name=templatename]', 'Notes, renamed'],
      ['input[name=templatesubject]', 'Hello again'],
      ['textarea[name=templatehtml]', '<p>Hi again</p>'],
    ]) {
      await form.locator(field).fill(value);
      expect({ field, shown: await shown(form) }).toEqual({ field, shown: [] });
      await button.click();
      await shows(form, ['Saved.']);
    }
    const { Template } = await rig.ok({ Command: 'email.template.get', SessionID: session, TemplateID });
    expect([Template.TemplateName, Template.TemplateSubject, Template.TemplateHTMLContent]).toEqual(['Notes, renamed', 'Hello again', '<p>Hi again</p>']);

    // An edit made while a save is on its way: the save's answer is not "Saved.", since the form shows more than it sent.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route('**/api.php', async (route) => {
      if ((route.request().postData() ?? '').includes('"email.template.update"')) await gate;
      await route.fallback();
    });
    await button.click();
    await button.and(page.locator('[aria-busy=true]')).waitFor();
    await form.locator('input[name=templatesubject]').fill('Typed while saving');
    release();
    await button.and(page.locator('[aria-busy=false]')).waitFor();
    await new Promise((r) => setTimeout(r, 200));
    expect(await shown(form)).toEqual([]);

    // A real refusal, with no edit since the last save: the template was deleted elsewhere.
    await button.click();
    await shows(form, ['Saved.']);
    await rig.ok({ Command: 'email.template.delete', SessionID: session, TemplateID });
    const gone = await rig.api({ Command: 'email.template.update', SessionID: session, TemplateID, TemplateName: 'x' });
    expect(gone.Success).toBe(false);
    await button.click();
    await shows(form, [[gone.ErrorText].flat().join('; ')]);
  });

  it('the domain options: a failed save shows only its error, and an edit drops "Saved."', async () => {
    await signIn('User');
    await page.evaluate(`location.hash = '#/domains/${domainId}'`);
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Options', exact: true }) });
    const button = form.locator('[data-action=save-options]');
    await button.waitFor();

    await form.locator('input[name=opentracking]').uncheck();
    await button.click();
    await shows(form, ['Saved.']);
    await failNext('emailgateway.updatedomain', 'no answer');
    await button.click();
    await shows(form, [NO_ANSWER]);
    await button.click();
    await shows(form, ['Saved.']);
    await failNext('emailgateway.updatedomain', { ErrorCode: 7, ErrorText: 'Refused for the test' });
    await button.click();
    await shows(form, ['Refused for the test']);

    await button.click();
    await shows(form, ['Saved.']);
    await form.locator('input[name=linktracking]').uncheck();
    expect(await shown(form)).toEqual([]);
    await button.click();
    await shows(form, ['Saved.']);
    await form.locator('input[name=subdomain]').fill('sl2');
    expect(await shown(form)).toEqual([]);
    const { Domain } = await rig.ok({ Command: 'emailgateway.getdomain', SessionID: session, DomainID: domainId });
    expect([Domain.Options.OpenTracking, Domain.Options.LinkTracking]).toEqual([0, 0]);
  });

  it("the admin's limits: a save says so in its own row, after the table's reload; a failure shows only the error there", async () => {
    await signIn('Admin');
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    const row = page.locator(`tr[data-user="${username}"]`);
    const otherRow = page.locator(`tr[data-user="${other}"]`);
    const form = row.locator('form.limits');
    const button = row.locator('[data-action=save-limits]');
    const perDay = async () => {
      const { Users } = await rig.ok({ Command: 'users.get', AdminAPIKey: rig.adminKey, Search: username, RecordsPerRequest: 5, RecordsFrom: 0 });
      return Number(Users.find((u: { Username: string }) => u.Username === username).LimitEmailSendPerDay);
    };

    await row.getByLabel('Per day (0 = no limit)').fill('250');
    await row.locator('[data-action=save-limits]').click();
    await row.getByRole('status').waitFor();
    // The reload brings the row anew (its boxes from the saved values); the note is still there, in this row only.
    await waitFor(async () => (await row.getByLabel('Per day (0 = no limit)').inputValue()) === '250', 10_000, 'the reloaded row');
    await page.locator('[data-action=save-limits][aria-busy=true]').waitFor({ state: 'detached' });
    expect(await perDay()).toBe(250);
    expect(await shown(form)).toEqual(['Saved.']);
    expect(await shown(otherRow)).toEqual([]);

    // Saved again with nothing changed: said so, and nothing sent.
    await button.click();
    await shows(form, ['No change to save.']);

    // Postern does not answer: the error in the row, not beside the last note.
    await row.getByLabel('Per day (0 = no limit)').fill('300');
    expect(await shown(form)).toEqual([]);
    await failNext('user.update', 'no answer');
    await button.click();
    await shows(form, [NO_ANSWER]);
    expect(await perDay()).toBe(250);

    // Then it does: saved, said so in the row, and the error gone.
    await row.locator('[data-action=save-limits]').click();
    await waitFor(async () => (await row.getByLabel('Per day (0 = no limit)').inputValue()) === '300' && (await perDay()) === 300, 10_000, 'the save');
    await shows(form, ['Saved.']);

    // The console's own refusal (a cleared box) straight after a save: only the refusal.
    await failNext('user.update', { ErrorCode: 9, ErrorText: 'never sent' });
    await row.getByLabel('Per month (0 = no limit)').fill('');
    await button.click();
    await shows(form, ['Per month: enter a whole number (0 = no limit)']);
    expect(await shown(otherRow)).toEqual([]);
  });

  it('the admin\'s "Create a user": a failed create shows only its error, and an edit drops "Created …"', async () => {
    await signIn('Admin');
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Create a user', exact: true }) });
    const button = form.locator('[data-action=create-user]');
    const fill = async (name: string) => {
      await form.locator('input[name=new-username]').fill(name);
      await form.locator('input[name=new-password]').fill('created notes password');
      await form.locator('input[name=new-email]').fill(`${name}@example.org`);
    };
    const created = (name: string) => `Created ${name}. They sign in with that username and password.`;

    await fill('cara');
    await button.click();
    await shows(form, [created('cara')]);
    expect(await form.locator('input[name=new-username]').inputValue()).toBe('');
    // Pressed again on the emptied form, and Postern does not answer: the error alone, not beside "Created cara.".
    await failNext('user.create', 'no answer');
    await button.click();
    await shows(form, [NO_ANSWER]);

    await fill('dana');
    await button.click();
    await shows(form, [created('dana')]);
    // A real refusal with no edit since: the emptied form, refused by the gateway.
    const tz = await page.evaluate('Intl.DateTimeFormat().resolvedOptions().timeZone');
    const empty = await rig.api({
      Command: 'user.create',
      AdminAPIKey: rig.adminKey,
      RelUserGroupID: 1,
      Username: '',
      Password: '',
      EmailAddress: '',
      FirstName: '',
      TimeZone: tz || 'UTC',
      Language: 'en',
      LimitEmailGatewaySenderDomains: 10,
    });
    expect(empty.Success).toBe(false);
    await button.click();
    await shows(form, [[empty.ErrorText].flat().join('; ')]);

    // An edit drops the note: typing the next user's name leaves no "Created …" above it.
    await fill('edda');
    await button.click();
    await shows(form, [created('edda')]);
    await form.locator('input[name=new-username]').fill('fay');
    expect(await shown(form)).toEqual([]);

    // An edit made while a create is on its way: no note, and the form keeps the edit (it is not emptied).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await page.route('**/api.php', async (route) => {
      if ((route.request().postData() ?? '').includes('"user.create"')) await gate;
      await route.fallback();
    });
    await fill('gus');
    await button.click();
    await button.and(page.locator('[aria-busy=true]')).waitFor();
    await form.locator('input[name=new-email]').fill('gus@example.net');
    release();
    await button.and(page.locator('[aria-busy=false]')).waitFor();
    await page.locator('tr[data-user="gus"]').waitFor();
    expect(await shown(form)).toEqual([]);
    expect(await form.locator('input[name=new-email]').inputValue()).toBe('gus@example.net');
    const { Users } = await rig.ok({ Command: 'users.get', AdminAPIKey: rig.adminKey, RecordsPerRequest: 50, RecordsFrom: 0 });
    expect(
      Users.map((u: { Username: string }) => u.Username)
        .filter((n: string) => ['cara', 'dana', 'edda', 'fay'].includes(n))
        .sort(),
    ).toEqual(['cara', 'dana', 'edda']);
  });

  it('a domain\'s "Send test": a failed send shows only its error, not the last "Accepted as …"', async () => {
    await signIn('User');
    await page.evaluate(`location.hash = '#/domains/${domainId}'`);
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Send a test email', exact: true }) });
    const button = form.locator('[data-action=send-test]');
    await button.waitFor();
    /** Waits for the note of an accepted send and gives its message ID. */
    const accepted = async () => {
      const id = (await form.getByRole('status').locator('code').textContent())!;
      await shows(form, [`Accepted as ${id}. Follow it in the message log →`]);
      expect(await form.getByRole('link', { name: /Follow it in the message log/ }).getAttribute('href')).toBe(`#/messages/${id}`);
      return id;
    };

    await form.locator('input[name=toemail]').fill('first@inbox.test');
    await button.click();
    const first = await accepted();
    await failNext('emailgateway.sendtestemail', 'no answer');
    await button.click();
    await shows(form, [NO_ANSWER]);
    await button.click();
    expect(await accepted()).not.toBe(first);

    // The note names no address and its link still leads to that message: an edit of To keeps it. The gateway's
    // refusal of the next send then shows alone.
    await form.locator('input[name=toemail]').fill('not an address');
    expect(await shown(form)).toHaveLength(1);
    const bad = await rig.api({ Command: 'emailgateway.sendtestemail', SessionID: session, DomainID: domainId, ToEmail: 'not an address' });
    expect(bad.Success).toBe(false);
    await button.click();
    await shows(form, [[bad.ErrorText].flat().join('; ')]);
  });

  it("All domains: a failed suspend or lift shows only its error, not the last change's note", async () => {
    const { domainId: changesId } = await rig.userWithDomain('tia', 'changes notes password', 'changes.example.com');
    const status = async (id: number) =>
      (await rig.ok({ Command: 'emailgateway.getalldomains', AdminAPIKey: rig.adminKey, RecordsPerRequest: 50, RecordsFrom: 0 })).Domains.find(
        (d: { DomainID: number }) => d.DomainID === id,
      ).Status;
    await signIn('Admin');
    await page.evaluate(`location.hash = '#/all-domains'`);
    const section = page.locator('section', { has: page.getByRole('heading', { name: 'All domains', exact: true }) });
    const changes = section.locator('tr[data-domain="changes.example.com"]');
    const notes = section.locator('tr[data-domain="notes.example.com"]');
    const confirm = async (row: Locator, action: 'suspend' | 'lift') => {
      await row.locator(`[data-action=${action}]`).click();
      await row.locator(`[data-action=${action}-confirm]`).click();
    };

    await confirm(changes, 'suspend');
    await shows(section, ['changes.example.com is now Suspended.']);
    // Another domain's suspend, and Postern does not answer: its error in its row, and the last note gone.
    await failNext('emailgateway.setdomainstatus', 'no answer');
    await confirm(notes, 'suspend');
    await shows(section, [NO_ANSWER]);
    expect(await status(domainId)).toBe('Enabled');
    await notes.getByRole('button', { name: 'Cancel' }).click();
    await shows(section, []);

    await confirm(changes, 'lift');
    await shows(section, ['changes.example.com is now Enabled.']);
    await changes.locator('[data-action=suspend]').waitFor();
    // A real refusal: lifted meanwhile by someone else, after this page's suspend said so.
    await confirm(changes, 'suspend');
    await shows(section, ['changes.example.com is now Suspended.']);
    await changes.locator('[data-action=lift]').click();
    await rig.ok({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: rig.adminKey, DomainID: changesId, Status: 'Enabled' });
    const refused = await rig.api({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: rig.adminKey, DomainID: changesId, Status: 'Enabled' });
    expect(refused.Success).toBe(false);
    await changes.locator('[data-action=lift-confirm]').click();
    await shows(section, [[refused.ErrorText].flat().join('; ')]);
    expect(await status(changesId)).toBe('Enabled');
  });
});
