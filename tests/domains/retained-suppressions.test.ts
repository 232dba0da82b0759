/**
 * Deleting a sender domain keeps its hard bounces, complaints and unsubscribes for its owner, and adding the same
 * name again restores them (src/domains/retained.ts). Before, they cascaded away with the domain: delete and re-add
 * (to redo its DNS, say) and everyone who had unsubscribed or complained was mailed again.
 */
import { addSuppression } from '../../src/suppression/suppressions';
import { addDomain, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const KEPT = { 'gone@dest.test': 'hard_bounce', 'spam@dest.test': 'complaint', 'unsub@dest.test': 'unsubscribe' } as Record<string, string>;

async function listed(sessionId: string, domainId: number): Promise<Record<string, string>> {
  const r = await h.call({ Command: 'emailgateway.getsuppressions', SessionID: sessionId, DomainID: domainId, RetrieveCount: 100 });
  expect(r.Success).toBe(true);
  return Object.fromEntries(r.Suppressions.map((s: { EmailAddress: string; Reason: string }) => [s.EmailAddress, s.Reason]));
}

async function deleteDomain(sessionId: string, domainId: number): Promise<void> {
  expect(await h.call({ Command: 'emailgateway.deletedomain', SessionID: sessionId, DomainID: domainId })).toMatchObject({ Success: true });
}

/** A domain of the session's user with the three kept reasons (as the intake and the unsubscribe link record them) and a manual entry. */
async function suppressAll(sessionId: string, domainId: number): Promise<void> {
  for (const [email, reason] of Object.entries(KEPT)) await addSuppression(h.services.db, domainId, email, reason as never, `why ${reason}`);
  expect(await h.call({ Command: 'emailgateway.addsuppression', SessionID: sessionId, DomainID: domainId, EmailAddress: 'mine@dest.test' })).toMatchObject({
    Success: true,
  });
}

it('re-adding a deleted domain restores its bounces, complaints and unsubscribes, and a send to them is refused', async () => {
  const s = await senderSetup(h);
  await suppressAll(s.sessionId, s.domainId);
  const before = await h.services.db('suppressions').where({ domain_id: s.domainId, email: 'unsub@dest.test' }).first('created_at', 'detail');
  await deleteDomain(s.sessionId, s.domainId);
  expect(await h.services.db('suppressions').where({ domain_id: s.domainId }).count({ n: '*' })).toEqual([{ n: 0 }]);

  const again = await addDomain(h, s.sessionId, s.domain);
  expect(again).not.toBe(s.domainId);
  // The owner's manual entry went with the domain; what recipients asked for or proved came back.
  expect(await listed(s.sessionId, again)).toEqual(KEPT);
  expect(await h.services.db('suppressions').where({ domain_id: again, email: 'unsub@dest.test' }).first('created_at', 'detail')).toEqual(before);
  expect(await h.services.db('retained_suppressions').where({ user_id: s.userId }).count({ n: '*' })).toEqual([{ n: 0 }]);

  await h.services.db('sender_domains').where({ id: again }).update({ status: 'Enabled' });
  const k = await h.call({ Command: 'emailgateway.addapi', SessionID: s.sessionId, DomainID: again, Description: 'after' });
  const send = (to: string) =>
    h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${k.APIKey.APIKey}` },
      body: { Subject: 'Hi', ContentType: 'plain', PlainContent: 'body', From: { name: 'Shop', email: `news@${s.domain}` }, To: [{ name: '', email: to }] },
    });
  expect((await send('unsub@dest.test')).body.Errors).toEqual([{ Code: 14, Message: 'Email address is in the suppression list: unsub@dest.test' }]);
  expect((await send('mine@dest.test')).body.MessageID).toEqual(expect.any(String));
});

it("keeps them for the owner only: the account's other domains and another account that adds the name get none", async () => {
  const s = await senderSetup(h);
  const other = await addDomain(h, s.sessionId, `other.${s.domain}`);
  await suppressAll(s.sessionId, s.domainId);
  await deleteDomain(s.sessionId, s.domainId);
  expect(await listed(s.sessionId, other)).toEqual({});

  // The name is free: another account adds it, starts with an empty list, and deletes it again.
  const b = await createUser(h);
  const theirs = await addDomain(h, b.sessionId, s.domain);
  expect(await listed(b.sessionId, theirs)).toEqual({});
  await addSuppression(h.services.db, theirs, 'unsub@dest.test', 'unsubscribe', 'their own');
  await deleteDomain(b.sessionId, theirs);

  // Back with the first owner: its own records, not the other account's.
  const again = await addDomain(h, s.sessionId, s.domain);
  expect(await listed(s.sessionId, again)).toEqual(KEPT);
  expect(await h.services.db('suppressions').where({ domain_id: again, email: 'unsub@dest.test' }).first('detail')).toEqual({ detail: 'why unsubscribe' });
});

it('a second deletion keeps what the first kept and what came after; deleting the account removes them', async () => {
  const s = await senderSetup(h);
  await suppressAll(s.sessionId, s.domainId);
  await deleteDomain(s.sessionId, s.domainId);
  const again = await addDomain(h, s.sessionId, s.domain);
  await addSuppression(h.services.db, again, 'later@dest.test', 'complaint', 'after the re-add');
  await deleteDomain(s.sessionId, again);
  expect(await h.services.db('retained_suppressions').where({ user_id: s.userId }).orderBy('email').pluck('email')).toEqual([
    'gone@dest.test',
    'later@dest.test',
    'spam@dest.test',
    'unsub@dest.test',
  ]);

  expect(await h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, Users: String(s.userId) })).toMatchObject({ Success: true });
  expect(await h.services.db('retained_suppressions').where({ user_id: s.userId }).count({ n: '*' })).toEqual([{ n: 0 }]);
});

describe('the owner sees and forgets what deleted domains kept', () => {
  const kept = (sessionId: string, extra: Record<string, unknown> = {}) =>
    h.call({ Command: 'emailgateway.getretainedsuppressions', SessionID: sessionId, ...extra });
  const forget = (sessionId: string, extra: Record<string, unknown>) =>
    h.call({ Command: 'emailgateway.deleteretainedsuppression', SessionID: sessionId, ...extra });

  it('lists them by domain, newest deletion first, with reason, detail and both dates; filters and pages them; another account sees none', async () => {
    const s = await senderSetup(h);
    const second = `second.${s.domain}`;
    const secondId = await addDomain(h, s.sessionId, second);
    await suppressAll(s.sessionId, s.domainId);
    await addSuppression(h.services.db, secondId, 'gone@dest.test', 'hard_bounce', '550 5.1.1 no such user');
    await deleteDomain(s.sessionId, s.domainId);
    // A later deletion: its rows come first.
    await h.services
      .db('retained_suppressions')
      .where({ user_id: s.userId })
      .update({ retained_at: Date.now() - 60_000 });
    await deleteDomain(s.sessionId, secondId);

    const all = await kept(s.sessionId);
    expect(all).toMatchObject({ Success: true, TotalRecords: 4 });
    expect(all.Suppressions.map((k: any) => [k.Domain, k.EmailAddress, k.Reason])).toEqual([
      [second, 'gone@dest.test', 'hard_bounce'],
      [s.domain, 'gone@dest.test', 'hard_bounce'],
      [s.domain, 'spam@dest.test', 'complaint'],
      [s.domain, 'unsub@dest.test', 'unsubscribe'],
    ]);
    expect(all.Suppressions[0]).toMatchObject({ Detail: '550 5.1.1 no such user', CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/) });
    expect(all.Suppressions[1].RetainedAt < all.Suppressions[0].RetainedAt).toBe(true);

    // The name in any case (and with a trailing dot) finds the stored one.
    expect((await kept(s.sessionId, { Domain: `${s.domain.toUpperCase()}.` })).TotalRecords).toBe(3);
    expect((await kept(s.sessionId, { Reason: 'complaint' })).Suppressions.map((k: any) => k.EmailAddress)).toEqual(['spam@dest.test']);
    // Query matches part of the address; % and _ are literal.
    expect((await kept(s.sessionId, { Query: 'UNSUB@' })).Suppressions.map((k: any) => k.EmailAddress)).toEqual(['unsub@dest.test']);
    expect((await kept(s.sessionId, { Query: '%' })).TotalRecords).toBe(0);
    const page = await kept(s.sessionId, { StartFrom: 3, RetrieveCount: 2 });
    expect(page).toMatchObject({ TotalRecords: 4 });
    expect(page.Suppressions.map((k: any) => k.EmailAddress)).toEqual(['unsub@dest.test']);

    const other = await createUser(h);
    expect(await kept(other.sessionId)).toMatchObject({ Success: true, TotalRecords: 0, Suppressions: [] });
    expect(await kept(other.sessionId, { Domain: s.domain })).toMatchObject({ Success: true, TotalRecords: 0 });
  });

  it('forgets an address under one name, or under all of them without Domain: re-adding the name no longer restores it', async () => {
    const s = await senderSetup(h);
    const second = `second.${s.domain}`;
    const secondId = await addDomain(h, s.sessionId, second);
    await suppressAll(s.sessionId, s.domainId);
    await addSuppression(h.services.db, secondId, 'spam@dest.test', 'complaint', 'second');
    await deleteDomain(s.sessionId, s.domainId);
    await deleteDomain(s.sessionId, secondId);

    // Another account cannot reach them: the same answer as an address never kept.
    const other = await createUser(h);
    expect(await forget(other.sessionId, { Domain: s.domain, EmailAddress: 'unsub@dest.test' })).toMatchObject({ Success: false, ErrorCode: 5 });
    expect(await forget(s.sessionId, { Domain: s.domain, EmailAddress: 'nobody@dest.test' })).toMatchObject({ Success: false, ErrorCode: 5 });

    expect(await forget(s.sessionId, { Domain: s.domain, EmailAddress: ' Unsub@Dest.test ' })).toMatchObject({ Success: true, Deleted: 1 });
    // Without Domain: every name's record of the address.
    expect(await forget(s.sessionId, { EmailAddress: 'spam@dest.test' })).toMatchObject({ Success: true, Deleted: 2 });
    expect((await kept(s.sessionId)).Suppressions.map((k: any) => `${k.Domain} ${k.EmailAddress}`)).toEqual([`${s.domain} gone@dest.test`]);

    const again = await addDomain(h, s.sessionId, s.domain);
    expect(await listed(s.sessionId, again)).toEqual({ 'gone@dest.test': 'hard_bounce' });
  });

  it('answers bad input with the commands’ own codes, and changes nothing', async () => {
    const s = await senderSetup(h);
    await suppressAll(s.sessionId, s.domainId);
    await deleteDomain(s.sessionId, s.domainId);
    expect(await kept(s.sessionId, { Domain: 'not a domain' })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await kept(s.sessionId, { RetrieveCount: 101 })).toMatchObject({ Success: false, ErrorCode: [6] });
    expect(await kept(s.sessionId, { Reason: 'manual' })).toMatchObject({ Success: false, ErrorCode: [6] });
    expect(await forget(s.sessionId, {})).toMatchObject({ Success: false, ErrorCode: [3] });
    expect(await forget(s.sessionId, { EmailAddress: 'unsub@dest.test\r\nBcc: x@y.test' })).toMatchObject({ Success: false, ErrorCode: [4] });
    expect(await forget(s.sessionId, { Domain: '127.0.0.1', EmailAddress: 'unsub@dest.test' })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect((await kept(s.sessionId)).TotalRecords).toBe(3);
  });
});
