import { Harness, startHarness } from '../helpers/harness';
import { as, keyWith, owner, Owner } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function template(o: Owner, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await as(h, o)('email.template.create', {
    TemplateName: 'Welcome',
    TemplateSubject: 'Hi {{ Subscriber:FirstName }}',
    TemplateHTMLContent: '<p>Hello</p>',
    ...extra,
  });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.TemplateID;
}

describe('email.template.create / get', () => {
  it('stores a template and returns it with the Octeth field names', async () => {
    const o = await owner(h);
    const r = await as(h, o)('email.template.create', {
      TemplateName: 'Receipt',
      TemplateSubject: 'Your receipt',
      TemplatePlainContent: 'Thanks',
      TemplateDescription: 'd',
      RelOwnerUserID: 999,
    });
    expect(r).toEqual({ Success: true, ErrorCode: 0, ErrorText: '', TemplateID: expect.any(Number) });
    const got = await as(h, o)('email.template.get', { TemplateID: r.TemplateID });
    expect(got).toMatchObject({
      Success: true,
      Template: {
        TemplateID: r.TemplateID,
        TemplateName: 'Receipt',
        TemplateSubject: 'Your receipt',
        TemplateHTMLContent: '',
        TemplatePlainContent: 'Thanks',
        TemplateDescription: 'd',
        RelOwnerUserID: o.userId,
      },
    });
  });

  it('answers [1] without a name and [2] without content, together', async () => {
    const o = await owner(h);
    expect(await as(h, o)('email.template.create', { TemplateName: 'x' })).toMatchObject({ Success: false, ErrorCode: [2] });
    expect(await as(h, o)('email.template.create', { TemplateName: ' ', TemplateHTMLContent: '   ' })).toMatchObject({ ErrorCode: [1, 2] });
    expect(await as(h, o)('email.template.create', { TemplateHTMLContent: '<p>x</p>' })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('email.template.create', { TemplateName: 'x', TemplateHTMLContent: 'x', TemplateSubject: 's'.repeat(999) })).toMatchObject({
      ErrorCode: [3],
    });
  });

  it("email.template.get answers 1 missing and 2 for unknown or another user's template", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const theirs = await template(other, { TemplateHTMLContent: '<p>secret</p>' });
    expect(await as(h, o)('email.template.get', {})).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('email.template.get', { TemplateID: 999999 })).toMatchObject({ Success: false, ErrorCode: 2 });
    const r = await as(h, o)('email.template.get', { TemplateID: theirs });
    expect(r).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(JSON.stringify(r)).not.toContain('secret');
  });

  it('needs EmailTemplates.Manage', async () => {
    const o = await owner(h);
    const key = await keyWith(h, o, 'List.Get');
    expect(await h.call({ Command: 'email.template.create', APIKey: key, TemplateName: 'x', TemplateHTMLContent: 'x' })).toMatchObject({ ErrorCode: 99999 });
  });
});

describe('email.template.update', () => {
  it('changes only what is sent; an empty content value removes that part', async () => {
    const o = await owner(h);
    const id = await template(o, { TemplatePlainContent: 'plain' });
    const r = await as(h, o)('email.template.update', { TemplateID: id, TemplateSubject: 'New subject', TemplateHTMLContent: '' });
    expect(r).toMatchObject({
      Success: true,
      ErrorText: '',
      Template: { TemplateName: 'Welcome', TemplateSubject: 'New subject', TemplateHTMLContent: '', TemplatePlainContent: 'plain' },
    });
    expect((await h.services.db('templates').where({ id }).first()).html).toBeNull();
  });

  it("answers [1] [2] (another user's) [3] [4] [5]", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const id = await template(o);
    const theirs = await template(other);
    expect(await as(h, o)('email.template.update', { TemplateName: 'x' })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('email.template.update', { TemplateID: theirs, TemplateName: 'Mine now' })).toMatchObject({ ErrorCode: [2] });
    expect((await h.services.db('templates').where({ id: theirs }).first()).name).toBe('Welcome');
    expect(await as(h, o)('email.template.update', { TemplateID: id, TemplateName: '' })).toMatchObject({ ErrorCode: [3] });
    expect(await as(h, o)('email.template.update', { TemplateID: id, TemplateHTMLContent: ' ' })).toMatchObject({ ErrorCode: [4] });
    expect(await as(h, o)('email.template.update', { TemplateID: id })).toMatchObject({ ErrorCode: [5] });
  });
});

describe('email.template.delete / email.templates.get', () => {
  it("lists the caller's templates without content, pages them, and deletes one", async () => {
    const o = await owner(h);
    const other = await owner(h);
    await template(other);
    const a = await template(o, { TemplateName: 'Alpha' });
    const b = await template(o, { TemplateName: 'Beta' });
    const c = await template(o, { TemplateName: 'Alphabet' });
    const all = await as(h, o)('email.templates.get', {});
    expect(all).toMatchObject({ Success: true, TotalTemplateCount: 3 });
    expect(all.Templates.map((t: any) => t.TemplateID)).toEqual([a, b, c]);
    expect(all.Templates[0].TemplateHTMLContent).toBeUndefined();
    const page = await as(h, o)('email.templates.get', { RecordsPerRequest: 1, RecordsFrom: 1 });
    expect(page.Templates.map((t: any) => t.TemplateID)).toEqual([b]);
    expect((await as(h, o)('email.templates.get', { Search: 'alpha' })).TotalTemplateCount).toBe(2);
    expect(await as(h, o)('email.templates.get', { RecordsPerRequest: 1001 })).toMatchObject({ ErrorCode: [1] });

    expect(await as(h, o)('email.template.delete', { TemplateID: b })).toEqual({ Success: true, ErrorCode: 0, ErrorText: '' });
    expect((await as(h, o)('email.templates.get', {})).Templates.map((t: any) => t.TemplateID)).toEqual([a, c]);
  });

  it("email.template.delete answers 1 missing and 2 for another user's template", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const theirs = await template(other);
    expect(await as(h, o)('email.template.delete', {})).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('email.template.delete', { TemplateID: theirs })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await h.services.db('templates').where({ id: theirs }).first()).toBeDefined();
  });
});
