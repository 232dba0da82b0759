/**
 * Upstream's suppression.* commands over /api.php, their scopes (PerList, AccountWide, SystemWide) as the send
 * path applies them, patterns (gateway sends only), the whitelist, and soft → hard after SOFT_BOUNCE_LIMIT.
 */
import { RelayRig, startRelayRig } from '../helpers/rig';
import { greylisting, smtpError, waitFor } from '../helpers/sink';
import { createUser } from '../helpers/harness';

let rig: RelayRig;
/** Its deliveries give up 2 s after acceptance (retried every 200 ms), with the default SOFT_BOUNCE_LIMIT (3). */
let expiring: RelayRig;
beforeAll(async () => {
  [rig, expiring] = await Promise.all([startRelayRig({ SOFT_BOUNCE_LIMIT: '2' }), startRelayRig({ DELIVERY_MAX_AGE_MS: '2000', RETRY_SCHEDULE_MS: '200' })]);
});
afterAll(async () => {
  await Promise.all([rig.close(), expiring.close()]);
});

const cmd = (command: string, params: Record<string, unknown> = {}) => rig.h.call({ Command: command, SessionID: rig.s.sessionId, ...params });
/** suppression.patterns.set as the administrator. */
const setPatterns = (Patterns: { Type: string; Pattern: string }[]) =>
  rig.h.call({ Command: 'suppression.patterns.set', AdminAPIKey: rig.h.adminKey, Patterns });
const send = (to: string, via = rig) =>
  via.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${via.s.key}` },
    body: { Subject: 'S', ContentType: 'plain', PlainContent: 'x', From: { name: '', email: `a@${via.s.domain}` }, To: [{ name: '', email: to }] },
  });

it('imports, browses, counts, checks and deletes entries per scope, with upstream shapes and codes', async () => {
  const listId = (await cmd('list.create', { SubscriberListName: 'L' })).ListID;
  const imp = await cmd('suppression.import', {
    EmailAddresses: '["one@x.test", "not-an-email"]',
    EmailAddressesBulk: 'two@x.test\n\nONE@x.test\n',
    SuppressionSource: 'Hard Bounced',
    Reason: 'Imported from bounce log',
  });
  expect(imp).toEqual({ Success: true, ErrorCode: 0, TotalImported: 2, TotalFailed: 1, FailedEmailAddresses: ['not-an-email'] });
  expect((await cmd('suppression.import', { EmailAddresses: ['three@x.test'], ListID: listId, SuppressionSource: 'Unsubscribe' })).TotalImported).toBe(1);
  expect(await cmd('suppression.import', {})).toMatchObject({ Success: false, ErrorCode: [1, 2] });
  expect(await cmd('suppression.import', { EmailAddresses: ['a@x.test'], SuppressionSource: 'Bogus' })).toMatchObject({ ErrorCode: [3] });
  expect(await cmd('suppression.import', { EmailAddresses: ['a@x.test'], ListID: 999999 })).toMatchObject({ ErrorCode: [4] });

  const browse = await cmd('suppression.browse', { SearchPattern: '*@x.test', SuppressionSource: 'Hard Bounced,SPAM complaint' });
  expect(browse.TotalRecords).toBe(2);
  expect(browse.SuppressedEmails['one@x.test']).toEqual({
    SuppressionID: expect.any(String),
    RelListID: '0',
    RelOwnerUserID: String(rig.s.userId),
    EmailAddress: 'one@x.test',
    SuppressionSource: 'Hard Bounced',
    Reason: 'Imported from bounce log',
  });
  expect(Object.keys((await cmd('suppression.browse', { ListID: listId })).SuppressedEmails)).toEqual(['three@x.test']);
  // An offset past what a database takes is refused (SQLite answered it with a 500: datatype mismatch).
  expect(await cmd('suppression.browse', { StartFrom: '9223372036854775807' })).toMatchObject({ Success: false, ErrorCode: [6] });
  expect(await cmd('suppression.stats')).toEqual({
    Success: true,
    ErrorCode: 0,
    Total: 2,
    BySource: { Administrator: 0, User: 0, 'SPAM complaint': 0, 'Hard Bounced': 2, Unsubscribe: 0 },
  });

  await rig.h.services
    .db('suppression_entries')
    .insert({ scope_key: 's', email: 'sys@x.test', source: 'SPAM complaint', reason: 'fbl', created_at: Date.now() });
  const check = await cmd('suppression.check', { ListID: listId, EmailAddresses: ['three@x.test', 'One@x.test', 'sys@x.test', 'clean@x.test', 'bad'] });
  expect(check).toMatchObject({ ListID: listId, TotalChecked: 4, TotalFailed: 1, SuppressionCheckDisabled: false, FailedEmailAddresses: ['bad'] });
  expect(check.Results['three@x.test']).toEqual({
    IsSuppressed: true,
    MatchedScopes: [{ Scope: 'PerList', SuppressionSource: 'Unsubscribe', Reason: 'Suppression List Import' }],
    IsPatternSuppressed: false,
  });
  expect(check.Results['One@x.test'].MatchedScopes).toEqual([{ Scope: 'AccountWide', SuppressionSource: 'Hard Bounced', Reason: 'Imported from bounce log' }]);
  expect(check.Results['sys@x.test'].MatchedScopes).toEqual([{ Scope: 'SystemWide', SuppressionSource: 'SPAM complaint', Reason: 'fbl' }]);
  expect(check.Results['clean@x.test']).toEqual({ IsSuppressed: false, MatchedScopes: [], IsPatternSuppressed: false });
  const tooMany = await cmd('suppression.check', { EmailAddresses: Array.from({ length: 501 }, (_, i) => `m${i}@x.test`) });
  expect(tooMany).toMatchObject({ Success: false, ErrorCode: [5], MaxEmailAddresses: 500, TotalSubmitted: 501 });

  expect(await cmd('suppression.delete', { EmailAddress: 'never@x.test' })).toMatchObject({ ErrorCode: [2] });
  expect(await cmd('suppression.delete', { EmailAddress: 'two@x.test' })).toEqual({ Success: true, ErrorCode: 0 });
  expect(await cmd('suppression.delete', { EmailAddresses: '["one@x.test","nope"]' })).toEqual({
    Success: true,
    ErrorCode: 0,
    TotalDeleted: 1,
    TotalFailed: 1,
    FailedEmailAddresses: ['nope'],
  });
});

it('imports up to 50,000 addresses a call, skipping whitelisted ones, and answers [5] with nothing imported above that', async () => {
  const u = await createUser(rig.h);
  const imp = (params: Record<string, unknown>) => rig.h.call({ Command: 'suppression.import', SessionID: u.sessionId, ...params });
  const rows = () => rig.h.services.db('suppression_entries').where({ user_id: u.userId }).pluck('email');
  const set = await rig.h.call({ Command: 'suppression.whitelist.set', SessionID: u.sessionId, Entries: ['a7@bulk.test', '*9@bulk.test'] });
  expect(set.Success).toBe(true);
  const addresses = (n: number) => Array.from({ length: n }, (_, i) => `a${i}@bulk.test`);

  expect(await imp({ EmailAddressesBulk: addresses(50_001).join('\n') })).toMatchObject({
    Success: false,
    ErrorCode: [5],
    MaxEmailAddresses: 50_000,
    TotalSubmitted: 50_001,
  });
  expect(await rows()).toEqual([]);
  // Far past it, in either parameter: the same answer (130,000 entries overflowed a spread: a 500).
  expect(await imp({ EmailAddressesBulk: addresses(200_000).join('\n') })).toMatchObject({ Success: false, ErrorCode: [5], TotalSubmitted: 200_000 });
  expect(await imp({ EmailAddresses: addresses(200_000) })).toMatchObject({ Success: false, ErrorCode: [5], TotalSubmitted: 200_000 });
  // JSON text nested far past what a body may be (it stays text) and an entry that is an array: malformed, not a 500.
  const deep = `[${'['.repeat(20_000)}${']'.repeat(20_000)}]`;
  expect(await imp({ EmailAddresses: deep })).toMatchObject({ Success: false, ErrorCode: [2] });
  expect(await imp({ EmailAddresses: ['a@bulk.test', ['b@bulk.test']] })).toMatchObject({ Success: false, ErrorCode: [2] });
  expect(await rows()).toEqual([]);

  // At the cap (a malformed line counts too); the whitelist, read once, is matched here for every address.
  const kept = addresses(49_999).filter((e) => e !== 'a7@bulk.test' && !e.endsWith('9@bulk.test'));
  expect(await imp({ EmailAddressesBulk: [...addresses(49_999), 'not-an-address'].join('\n') })).toEqual({
    Success: true,
    ErrorCode: 0,
    TotalImported: kept.length,
    TotalFailed: 1,
    FailedEmailAddresses: ['not-an-address'],
  });
  expect((await rows()).sort()).toEqual(kept.sort());
}, 60_000);

it("the send path skips AccountWide and SystemWide entries, and patterns, but another account's entries do not apply", async () => {
  await cmd('suppression.import', { EmailAddresses: ['blocked@y.test'] });
  await rig.h.services
    .db('suppression_entries')
    .insert({ scope_key: 's', email: 'global@y.test', source: 'Administrator', reason: '', created_at: Date.now() });
  const other = await createUser(rig.h);
  await rig.h.call({ Command: 'suppression.import', SessionID: other.sessionId, EmailAddresses: ['theirs@y.test'] });
  for (const to of ['blocked@y.test', 'global@y.test']) expect((await send(to)).body.Errors[0].Code).toBe(14);
  expect((await send('theirs@y.test')).body.MessageID).toEqual(expect.any(String));
  expect(
    await setPatterns([
      { Type: 'STRPOS', Pattern: '*@spamtrap.test' },
      { Type: 'REGEXP', Pattern: '^abuse@' },
    ]),
  ).toMatchObject({ Success: true });
  expect((await send('x@spamtrap.test')).body.Errors[0].Code).toBe(14);
  expect((await send('abuse@y.test')).body.Errors[0].Code).toBe(14);
  expect((await cmd('suppression.check', { EmailAddresses: ['x@spamtrap.test'] })).Results['x@spamtrap.test']).toMatchObject({
    IsSuppressed: false,
    IsPatternSuppressed: true,
  });
  expect(await setPatterns([{ Type: 'REGEXP', Pattern: '(' }])).toMatchObject({ ErrorCode: [3] });
  await setPatterns([]);
});

it('no pattern can stall a send: STRPOS matches without a regular expression, REGEXP runs in linear time, backreferences and lookaround are refused', async () => {
  expect(
    await setPatterns([
      // As backtracking regular expressions, each of these took minutes on the address below.
      { Type: 'STRPOS', Pattern: '*a*a*a*a*a*a*a*a*!' },
      { Type: 'REGEXP', Pattern: '(a|a)*!' },
      { Type: 'REGEXP', Pattern: 'a.*a.*a.*a.*a.*a.*a.*a.*!' },
      { Type: 'STRPOS', Pattern: 'trap*zone' },
    ]),
  ).toMatchObject({ Success: true });
  const started = Date.now();
  expect((await send(`${'a'.repeat(60)}@y.test`)).body.MessageID).toEqual(expect.any(String));
  expect(Date.now() - started).toBeLessThan(5000);
  // STRPOS is still a substring with wildcards, anywhere in the address.
  expect((await send('my-trap-in-the-zone@y.test')).body.Errors[0].Code).toBe(14);
  expect((await send('zone-then-trap@y.test')).body.MessageID).toEqual(expect.any(String));
  for (const pattern of ['(a)\\1@', '(?<=x)a', '^(?!abuse)']) {
    expect(await setPatterns([{ Type: 'REGEXP', Pattern: pattern }])).toMatchObject({ Success: false, ErrorCode: [3] });
  }
  await setPatterns([]);
});

it('a whitelisted address is not suppressed by a hard bounce; another is', async () => {
  expect(await cmd('suppression.whitelist.set', { Entries: ['vip@z.test', '*@partner.test'] })).toEqual({
    Success: true,
    ErrorCode: 0,
    Entries: ['*@partner.test', 'vip@z.test'],
  });
  expect(await cmd('suppression.whitelist.get')).toMatchObject({ Entries: ['*@partner.test', 'vip@z.test'] });
  rig.sink.onRcpt = (a) => (a.startsWith('vip@') || a.startsWith('gone@') ? smtpError(550, '5.1.1 user unknown') : undefined);
  await send('vip@z.test');
  await send('gone@z.test');
  const suppressed = () => rig.h.services.db('suppressions').where({ domain_id: rig.s.domainId }).pluck('email');
  await waitFor(async () => (await suppressed()).includes('gone@z.test'), 20000, 'the hard bounce suppression');
  await waitFor(
    async () => (await rig.h.services.db('deliveries').where({ recipient: 'vip@z.test' }).first('status')).status === 'bounced',
    20000,
    'the whitelisted bounce',
  );
  expect(await suppressed()).not.toContain('vip@z.test');
  rig.sink.onRcpt = undefined;
});

it('messages sent at once to a greylisting server, all refused once before any retry, never get the address suppressed', async () => {
  // The rig's SOFT_BOUNCE_LIMIT is 2: when first refusals counted, the second of these made it a hard bounce.
  const to = 'grey@z.test';
  const grey = greylisting((a) => a === to);
  rig.sink.onRcpt = grey.onRcpt;
  const messages = 4;
  const sends = await Promise.all(Array.from({ length: messages }, () => send(to)));
  for (const res of sends) expect(res.body.MessageID).toEqual(expect.any(String));
  const delivered = async () => (await rig.h.services.db('deliveries').where({ recipient: to, status: 'delivered' })).length;
  await waitFor(async () => (await delivered()) === messages, 20000, 'every message delivered on its retry');
  // Every message was refused once. Usually all four first refusals come before the first retry (1 s later), the case
  // that suppressed the address when first refusals counted; the order is not asserted, as a loaded run can spread them.
  expect(grey.replies.filter((r) => r === 'refused')).toHaveLength(messages);
  expect(await rig.h.services.db('suppressions').where({ domain_id: rig.s.domainId, email: to })).toEqual([]);
  expect(await rig.h.services.db('soft_bounce_counts').where({ email: to })).toEqual([]);
  rig.sink.onRcpt = undefined;
});

it('a message counts one soft bounce when it finally fails on a soft reply, not per refusal; the third suppresses the address', async () => {
  const { h, s } = expiring;
  const to = 'full@z.test';
  expiring.sink.onRcpt = (a) => (a === to ? smtpError(452, '4.2.2 mailbox full') : undefined);
  const failed = () => h.services.db('deliveries').where({ recipient: to, status: 'failed' }).select('id', 'attempts', 'bounce_class');
  const count = async () => Number((await h.services.db('soft_bounce_counts').where({ domain_id: s.domainId, email: to }).first('count'))?.count ?? 0);
  const suppression = () => h.services.db('suppressions').where({ domain_id: s.domainId, email: to }).first('reason', 'detail');

  // Two at once, each refused on every attempt until DELIVERY_MAX_AGE ran out: two soft bounces, however many refusals.
  await Promise.all([send(to, expiring), send(to, expiring)]);
  await waitFor(async () => (await failed()).length === 2, 20000, 'two messages failed');
  await waitFor(async () => (await count()) === 2, 20000, 'two soft bounces');
  for (const d of await failed()) {
    expect(d.bounce_class).toBe('mailbox_full');
    expect(Number(d.attempts)).toBeGreaterThan(1);
  }
  expect(await suppression()).toBeUndefined();

  const third = (await send(to, expiring)).body.MessageID as string;
  await waitFor(async () => !!(await suppression()), 20000, 'soft → hard');
  // Counted once the third had failed, not at its first refusal.
  expect(await h.services.db('deliveries').where({ message_id: third }).first('status')).toEqual({ status: 'failed' });
  expect(await suppression()).toEqual({ reason: 'hard_bounce', detail: '3 soft bounces; last: 452 4.2.2 mailbox full' });
  expiring.sink.onRcpt = undefined;
});
