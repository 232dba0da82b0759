import { Harness, startHarness } from '../helpers/harness';
import { actionExists, journeyExists, listExists, markUnsubscribed, subscribedMembers, subscriberFor, templateFor } from '../../src/lists/api';
import { addSubscriber, as, makeField, makeList, owner, suppress } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('src/lists/api.ts (the send path’s view)', () => {
  it('templateFor answers the owner’s template content, null otherwise', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const r = await as(h, o)('email.template.create', { TemplateName: 'T', TemplateSubject: 'Subj', TemplateHTMLContent: '<b>x</b>' });
    const db = h.services.db;
    expect(await templateFor(db, o.userId, r.TemplateID)).toEqual({ id: r.TemplateID, subject: 'Subj', html: '<b>x</b>', text: null });
    expect(await templateFor(db, other.userId, r.TemplateID)).toBeNull();
    expect(await templateFor(db, o.userId, 999999)).toBeNull();
  });

  it('listExists and subscriberFor are owner-scoped; fields carry standard keys, aliases and CustomField<ID>', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const db = h.services.db;
    const listId = await makeList(h, o);
    const first = await makeField(h, o, listId, 'First', 'FirstName');
    const city = await makeField(h, o, listId, 'City', undefined, { DefaultValue: 'Springfield' });
    const empty = await makeField(h, o, listId, 'Last', 'LastName');
    const id = await addSubscriber(h, o, listId, 'ctx@example.com', { CustomFields: { [first]: 'Homer' } });
    expect(await listExists(db, o.userId, listId)).toBe(true);
    expect(await listExists(db, other.userId, listId)).toBe(false);
    expect(await subscriberFor(db, o.userId, listId, id)).toEqual({
      id,
      listId,
      email: 'ctx@example.com',
      status: 'Subscribed',
      fields: {
        EmailAddress: 'ctx@example.com',
        SubscriberID: String(id),
        ListID: String(listId),
        FirstName: 'Homer',
        [`CustomField${first}`]: 'Homer',
        [`CustomField${city}`]: 'Springfield',
        LastName: '',
        [`CustomField${empty}`]: '',
      },
    });
    expect(await subscriberFor(db, other.userId, listId, id)).toBeNull();
    expect(await subscriberFor(db, o.userId, await makeList(h, o), id)).toBeNull();
  });

  it('subscribedMembers orders by email or pages by id, skipping other statuses and addresses suppressed on the domain', async () => {
    const o = await owner(h);
    const db = h.services.db;
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'First', 'FirstName');
    const ids: Record<string, number> = {};
    for (const e of ['d', 'b', 'e', 'a', 'c']) ids[e] = await addSubscriber(h, o, listId, `${e}@example.com`, { CustomFields: { [f]: e.toUpperCase() } });
    await addSubscriber(h, o, listId, 'u@example.com', { Status: 'Unsubscribed', UnsubscriptionDate: '2026-01-01', UnsubscriptionIP: '192.0.2.1' });
    await addSubscriber(h, o, listId, 'p@example.com', { Status: 'Opt-In Pending' });
    const domainId = await suppress(h, o, 'c@example.com');
    const otherDomain = await suppress(h, o, 'a@example.com');

    const byEmail = await subscribedMembers(db, listId, domainId, { order: 'email', limit: 3 });
    expect(byEmail.map((m) => m.email)).toEqual(['a@example.com', 'b@example.com', 'd@example.com']);
    expect(byEmail[0].fields).toMatchObject({ FirstName: 'A', EmailAddress: 'a@example.com', ListID: String(listId) });

    const page1 = await subscribedMembers(db, listId, otherDomain, { order: 'id', limit: 2 });
    expect(page1.map((m) => m.id)).toEqual([ids.d, ids.b]);
    const page2 = await subscribedMembers(db, listId, otherDomain, { order: 'id', limit: 2, afterId: page1[1].id });
    expect(page2.map((m) => m.id)).toEqual([ids.e, ids.c]);
    expect(await subscribedMembers(db, listId, otherDomain, { order: 'id', limit: 2, afterId: ids.c })).toEqual([]);
  });

  it('markUnsubscribed changes a member once and only in its list', async () => {
    const o = await owner(h);
    const db = h.services.db;
    const listId = await makeList(h, o);
    const id = await addSubscriber(h, o, listId, 'bye@example.com');
    expect(await markUnsubscribed(db, await makeList(h, o), id, 1_800_000_000_000)).toBe(false);
    expect(await markUnsubscribed(db, listId, id, 1_800_000_000_000)).toBe(true);
    expect(await markUnsubscribed(db, listId, id, 1_800_000_000_001)).toBe(false);
    expect(await db('subscribers').where({ id }).first()).toMatchObject({ status: 'Unsubscribed', unsubscription_date: 1_800_000_000_000 });
  });

  it('journeyExists and actionExists are owner-scoped and check the action’s journey when given', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const db = h.services.db;
    const [journey] = await db('journeys').insert({ user_id: o.userId, name: 'Welcome' });
    const [second] = await db('journeys').insert({ user_id: o.userId, name: 'Other' });
    const [action] = await db('journey_actions').insert({ journey_id: journey, name: 'Send' });
    expect(await journeyExists(db, o.userId, Number(journey))).toBe(true);
    expect(await journeyExists(db, other.userId, Number(journey))).toBe(false);
    expect(await actionExists(db, o.userId, undefined, Number(action))).toBe(true);
    expect(await actionExists(db, o.userId, Number(journey), Number(action))).toBe(true);
    expect(await actionExists(db, o.userId, Number(second), Number(action))).toBe(false);
    expect(await actionExists(db, other.userId, undefined, Number(action))).toBe(false);
    expect(await actionExists(db, o.userId, undefined, 999999)).toBe(false);
  });

  it('deleting the user removes their lists, subscribers, templates and journeys', async () => {
    const o = await owner(h);
    const db = h.services.db;
    const listId = await makeList(h, o);
    await addSubscriber(h, o, listId, 'x@example.com');
    await as(h, o)('email.template.create', { TemplateName: 'T', TemplateHTMLContent: 'x' });
    await db('journeys').insert({ user_id: o.userId, name: 'J' });
    expect(await h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, UserID: o.userId })).toMatchObject({ Success: true });
    expect(await db('lists').where({ user_id: o.userId }).first()).toBeUndefined();
    expect(await db('subscribers').where({ list_id: listId }).first()).toBeUndefined();
    expect(await db('templates').where({ user_id: o.userId }).first()).toBeUndefined();
    expect(await db('journeys').where({ user_id: o.userId }).first()).toBeUndefined();
  });
});
