import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { claimRelayUuid } from '../../src/idempotency/relay-uuid';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let user: string;
let pass: string;

beforeAll(async () => {
  // Some tests change an account or domain behind the API's back (as another process would) and expect the next
  // call to see it: no reuse of verified credentials here (tests/smtp/auth-cache.test.ts covers the cache).
  h = await startHarness({ SMTP_MAX_RECIPIENTS: '2', SENDER_AUTH_CACHE_MS: '0' });
  s = await senderSetup(h);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  user = c.SMTP.SMTPUsername;
  pass = c.SMTP.SMTPPassword;
});
afterAll(async () => {
  await h.close();
});

const relay = (extra: Record<string, unknown>) =>
  h.call({ Command: 'emailgateway.smtprelay', AdminAPIKey: h.adminKey, SMTPUsername: user, SMTPPassword: pass, ...extra });
const raw = (from: string, extra = '') => `From: ${from}\r\nTo: r@dest.test\r\n${extra}Subject: relayed\r\n\r\nbody\r\n`;

describe('emailgateway.smtprelay', () => {
  it('refuses a bare CR (14): the worker would end a line there, and a second From would pass the header checks', async () => {
    const r = await relay({
      MailFrom: `app@${s.domain}`,
      RcptTo: 'r@dest.test',
      RawEmail: `From: app@${s.domain}\r\nTo: r@dest.test\r\nSubject: Hello\rFrom: CEO <ceo@bank.test>\r\n\r\nbody\r\n`,
    });
    expect(r).toMatchObject({ Success: false, ErrorCode: 14 });
    expect(r.ErrorText).toMatch(/bare CR/);
    // LF-only line endings are still taken (clients build RawEmail with "\n").
    const lf = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: `From: app@${s.domain}\nTo: r@dest.test\nSubject: lf\n\nbody\n` });
    expect(lf).toMatchObject({ Success: true, ErrorCode: 0 });
  });

  it('answers the auth-only call by echoing the credentials', async () => {
    expect(await relay({})).toEqual({ Success: true, ErrorCode: 0, SMTPUsername: user, SMTPPassword: pass });
  });

  it('queues a relayed message and answers its SMTPResponse', async () => {
    const r = await relay({
      UUID: 'u-1',
      MailFrom: `app@${s.domain}`,
      RcptTo: 'r@dest.test, second@dest.test',
      Subject: 'relayed',
      RawEmail: raw(`app@${s.domain}`),
    });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, SMTPUsername: user });
    expect(r.SMTPResponse).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    const rows = await h.services.db('deliveries').where({ message_id: r.MessageID }).pluck('recipient');
    expect(rows.sort()).toEqual(['r@dest.test', 'second@dest.test']);
  });

  it.each([
    [1, { SMTPUsername: '' }],
    [2, { SMTPPassword: '' }],
    [3, { SMTPPassword: 'wrong' }],
  ])('answers code %i with an SMTPResponse', async (code, extra) => {
    const r = await relay(extra);
    expect(r.Success).toBe(false);
    expect(r.ErrorCode).toBe(code);
    expect(typeof r.SMTPResponse).toBe('string');
  });

  it('answers bad credentials exactly as the contract shows', async () => {
    const r = await relay({ SMTPPassword: 'wrong' });
    expect(r).toMatchObject({ Success: false, SMTPResponse: '500 5.0.0 AUTH ERROR', ErrorCode: 3 });
  });

  it('answers 4 for a sender outside the domain (envelope or From)', async () => {
    expect((await relay({ MailFrom: 'x@other.test', RcptTo: 'r@dest.test', RawEmail: raw(`app@${s.domain}`) })).ErrorCode).toBe(4);
    expect((await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: raw('spoof@other.test') })).ErrorCode).toBe(4);
  });

  it('answers 4 for a second From, a foreign Sender or a From list holding a foreign address', async () => {
    const send = (headers: string) =>
      relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: `${headers}\r\nTo: r@dest.test\r\nSubject: s\r\n\r\nbody\r\n` });
    expect(await send(`From: app@${s.domain}\r\nFrom: ceo@bank.test`)).toMatchObject({
      Success: false,
      ErrorCode: 4,
      SMTPResponse: expect.stringMatching(/^553 5\.7\.1/),
      ErrorText: expect.stringContaining('2 From headers'),
    });
    expect((await send(`From: app@${s.domain}\r\nSender: ceo@bank.test`)).ErrorCode).toBe(4);
    expect((await send(`From: app@${s.domain}, ceo@bank.test`)).ErrorCode).toBe(4);
  });

  it('answers 14 for a line over 998 octets, and records Cc and Bcc recipients as such', async () => {
    const long = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: raw(`app@${s.domain}`, `X-Long: ${'x'.repeat(1000)}\r\n`) });
    expect(long).toMatchObject({
      Success: false,
      ErrorCode: 14,
      SMTPResponse: expect.stringMatching(/^554 5\.6\.0/),
      ErrorText: expect.stringContaining('octets'),
    });
    const ok = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test, cc@dest.test', RawEmail: raw(`app@${s.domain}`, 'Cc: cc@dest.test\r\n') });
    const kinds = await h.services.db('deliveries').where({ message_id: ok.MessageID }).select('recipient', 'kind');
    expect(kinds.map((k: { recipient: string; kind: string }) => `${k.recipient}:${k.kind}`).sort()).toEqual(['cc@dest.test:cc', 'r@dest.test:to']);
  });

  it('answers 5 when the domain is not active, on the auth-only call too', async () => {
    await h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Approval Pending' });
    try {
      expect((await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: raw(`app@${s.domain}`) })).ErrorCode).toBe(5);
      expect(await relay({})).toMatchObject({ Success: false, ErrorCode: 5, SMTPResponse: '550 5.7.1 Sender domain is not activated' });
    } finally {
      await h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Enabled' });
    }
  });

  it('answers 7 for an untrusted or disabled account, on the auth-only call too (the front refuses AUTH, not DATA)', async () => {
    await h.services.db('users').where({ id: s.userId }).update({ reputation_level: 'Untrusted' });
    try {
      expect((await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test', RawEmail: raw(`app@${s.domain}`) })).ErrorCode).toBe(7);
      expect(await relay({})).toMatchObject({ Success: false, ErrorCode: 7, SMTPResponse: '550 5.7.1 Sending account is not trusted or not enabled' });
    } finally {
      await h.services.db('users').where({ id: s.userId }).update({ reputation_level: 'Trusted' });
    }
  });

  it('answers 8 when every recipient is suppressed', async () => {
    await h.call({ Command: 'emailgateway.addsuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: 'gone@dest.test' });
    const r = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'gone@dest.test', RawEmail: raw(`app@${s.domain}`) });
    expect(r).toMatchObject({ Success: false, ErrorCode: 8, SMTPResponse: '550 5.7.1 Recipient address is suppressed' });
  });

  it('answers 15, not "suppressed", for a RcptTo that is not an address, with an SMTP reply that says so', async () => {
    const r = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'r@dest.test, not-an-address', RawEmail: raw(`app@${s.domain}`) });
    expect(r).toMatchObject({ Success: false, ErrorCode: 15, SMTPResponse: '501 5.1.3 Bad recipient address syntax' });
    expect(r.ErrorText).toContain('not-an-address');
  });

  it('answers a parameter failure as its own failures: one scalar code and an SMTPResponse', async () => {
    const r = await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'a@d.test,'.repeat(12_000), RawEmail: raw(`app@${s.domain}`) });
    expect(r).toMatchObject({ Success: false, ErrorCode: 15, SMTPResponse: '501 5.1.3 Bad recipient address syntax' });
    expect(typeof r.ErrorText).toBe('string');
  });

  it('takes a Subject parameter longer than 998 characters (unused: the subject is read from RawEmail)', async () => {
    const r = await relay({
      MailFrom: `app@${s.domain}`,
      RcptTo: 'r@dest.test',
      Subject: 'x'.repeat(1200),
      UUID: 'u'.repeat(80),
      RawEmail: raw(`app@${s.domain}`),
    });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
  });

  it('answers 9, 10 and 11 for too many To, Cc and Bcc recipients', async () => {
    expect((await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'a@d.test,b@d.test,c@d.test', RawEmail: raw(`app@${s.domain}`) })).ErrorCode).toBe(9);
    expect(
      (await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'a@d.test', RawEmail: raw(`app@${s.domain}`, 'Cc: a@d.test, b@d.test, c@d.test\r\n') })).ErrorCode,
    ).toBe(10);
    expect(
      (await relay({ MailFrom: `app@${s.domain}`, RcptTo: 'a@d.test', RawEmail: raw(`app@${s.domain}`, 'Bcc: a@d.test, b@d.test, c@d.test\r\n') })).ErrorCode,
    ).toBe(11);
  });

  it("answers 12 when the account's sending limit is reached", async () => {
    const t = await senderSetup(h, { LimitEmailSendPerDay: 1 });
    const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: t.sessionId, DomainID: t.domainId });
    const send = () =>
      h.call({
        Command: 'emailgateway.smtprelay',
        AdminAPIKey: h.adminKey,
        SMTPUsername: c.SMTP.SMTPUsername,
        SMTPPassword: c.SMTP.SMTPPassword,
        MailFrom: `a@${t.domain}`,
        RcptTo: 'r@dest.test',
        RawEmail: raw(`a@${t.domain}`),
      });
    expect((await send()).Success).toBe(true);
    expect(await send()).toMatchObject({ Success: false, ErrorCode: 12, SMTPResponse: '451 4.7.1 Sending limit reached; try again later' });
  });

  it('requires the AdminAPIKey', async () => {
    const r = await h.call({ Command: 'emailgateway.smtprelay', AdminAPIKey: 'nope', SMTPUsername: user, SMTPPassword: pass });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('emailgateway.smtprelay UUID: a repeated call queues the message once', () => {
  const message = (uuid: string, extra: Record<string, unknown> = {}) =>
    relay({ UUID: uuid, MailFrom: `app@${s.domain}`, RcptTo: 'once@dest.test', RawEmail: raw(`app@${s.domain}`), ...extra });
  const messagesTo = async (rcpt: string) => (await h.services.db('deliveries').where({ recipient: rcpt }).countDistinct({ n: 'message_id' }))[0].n;

  it('answers the first call again for the same UUID and message, and keeps no password', async () => {
    const first = await message('front-id-1');
    expect(first).toMatchObject({ Success: true, ErrorCode: 0 });
    const again = await message('front-id-1');
    expect(again).toEqual(first);
    expect(Number(await messagesTo('once@dest.test'))).toBe(1);
    const stored = await h.services.db('idempotency_keys').pluck('response');
    expect(stored.some((r: string) => r.includes(first.MessageID))).toBe(true);
    expect(stored.some((r: string) => r.includes(pass))).toBe(false);
  });

  it('queues another message under a used UUID, and the same UUID from another SMTP login', async () => {
    const first = await message('front-id-2', { RcptTo: 'two@dest.test' });
    const other = await message('front-id-2', { RcptTo: 'two@dest.test', RawEmail: raw(`app@${s.domain}`, 'X-Other: 1\r\n') });
    expect(other.MessageID).not.toBe(first.MessageID);
    const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
    const login = { SMTPUsername: c.SMTP.SMTPUsername, SMTPPassword: c.SMTP.SMTPPassword };
    const third = await message('front-id-2', { RcptTo: 'two@dest.test', ...login });
    expect(third).toMatchObject({ Success: true, SMTPUsername: login.SMTPUsername });
    expect(Number(await messagesTo('two@dest.test'))).toBe(3);
  });

  it('answers 16 (a 451) while the first call with the UUID still runs', async () => {
    const smtpId = Number((await h.services.db('smtp_credentials').where({ username: user.toLowerCase() }).first()).id);
    const rawEmail = raw(`app@${s.domain}`);
    const inFlight = await claimRelayUuid(h.services.db, 60_000, {
      smtpId,
      uuid: 'front-id-3',
      mailFrom: `app@${s.domain}`,
      rcptTo: 'three@dest.test',
      rawEmail,
    });
    expect(inFlight?.kind).toBe('fresh');
    const r = await message('front-id-3', { RcptTo: 'three@dest.test', RawEmail: rawEmail });
    expect(r).toMatchObject({ Success: false, ErrorCode: 16, SMTPResponse: expect.stringMatching(/^451 4\.3\.0 /) });
    expect(Number(await messagesTo('three@dest.test'))).toBe(0);
  });

  it('judges a call that queued nothing afresh when it is repeated', async () => {
    await h.call({ Command: 'emailgateway.addsuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: 'later@dest.test' });
    expect(await message('front-id-4', { RcptTo: 'later@dest.test' })).toMatchObject({ Success: false, ErrorCode: 8 });
    await h.call({ Command: 'emailgateway.deletesuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: 'later@dest.test' });
    expect(await message('front-id-4', { RcptTo: 'later@dest.test' })).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(Number(await messagesTo('later@dest.test'))).toBe(1);
  });
});
