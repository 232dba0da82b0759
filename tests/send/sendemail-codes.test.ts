/**
 * emailgateway.sendemail through HTTP: every code the command can answer, its v1 HTTP status and the
 * `{"Errors":[{Code, Message}]}` body; suppression at send time; daily/monthly quota; the per-key rate
 * limit; the legacy /api.php door; case-insensitive parameter names.
 */
import { Harness, createUser, senderSetup, startHarness, Reply } from '../helpers/harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

const MAX_ATTACHMENT_BYTES = 1000;
/** The largest message as sent (an API send's MIME estimate too). */
const MAX_MESSAGE_BYTES = 200_000;

let h: Harness;
let s: Sender;
/** A fresh sender key for each test (same user and domain), so no test eats into another's rate-limit budget. */
let key: string;

beforeAll(async () => {
  h = await startHarness({ MAX_ATTACHMENT_BYTES: String(MAX_ATTACHMENT_BYTES), SMTP_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});
beforeEach(async () => {
  key = await addKey(s);
});

async function addKey(sender: { sessionId: string; domainId: number }): Promise<string> {
  const k = await h.call({ Command: 'emailgateway.addapi', SessionID: sender.sessionId, DomainID: sender.domainId, Description: 'per test' });
  if (!k.Success) throw new Error(`addapi failed: ${JSON.stringify(k)}`);
  return k.APIKey.APIKey as string;
}

function send(body: Record<string, unknown>, k: string | null = key) {
  return h.request('POST', '/api/v1/email', { headers: k === null ? {} : { Authorization: `Bearer ${k}` }, body });
}

function basic(extra: Record<string, unknown> = {}, domain = s.domain) {
  return {
    Subject: 'Order shipped',
    ContentType: 'html',
    HTMLContent: '<p>Your order is on its way.</p>',
    PlainContent: 'Your order is on its way.',
    From: { name: 'Shop', email: `orders@${domain}` },
    To: [{ name: 'Ann', email: 'ann@recipient.test' }],
    ...extra,
  };
}

function without(body: Record<string, unknown>, ...keys: string[]) {
  const copy = { ...body };
  for (const k of keys) delete copy[k];
  return copy;
}

function many(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({ name: `R${i}`, email: `${prefix}${i}@recipient.test` }));
}

function b64(n: number): string {
  return Buffer.alloc(n, 7).toString('base64');
}

async function messageCount(userId = s.userId): Promise<number> {
  const [{ n }] = await h.services.db('messages').where({ user_id: userId }).count({ n: '*' });
  return Number(n);
}

/** Expects one error reply with exactly these codes and (where given) messages. */
async function expectErrors(res: Reply, status: number, errors: { Code: number; Message?: string | RegExp }[]) {
  expect(res.status).toBe(status);
  expect(Object.keys(res.body)).toEqual(['Errors']);
  expect(res.body.Errors.map((e: { Code: number }) => e.Code)).toEqual(errors.map((e) => e.Code));
  errors.forEach((e, i) => {
    expect(typeof res.body.Errors[i].Message).toBe('string');
    if (e.Message instanceof RegExp) expect(res.body.Errors[i].Message).toMatch(e.Message);
    else if (e.Message !== undefined) expect(res.body.Errors[i].Message).toBe(e.Message);
  });
}

describe('a valid request', () => {
  it('answers 200 with only a MessageID and stores the message with one queued delivery', async () => {
    const before = await messageCount();
    const res = await send(basic());
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['MessageID']);
    expect(res.body.MessageID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await messageCount()).toBe(before + 1);
    const d = await h.services.db('deliveries').where({ message_id: res.body.MessageID });
    expect(d.map((r: { recipient: string; kind: string; status: string }) => [r.recipient, r.kind, r.status])).toEqual([
      ['ann@recipient.test', 'to', 'queued'],
    ]);
  });
});

describe('recipients and From that are accepted', () => {
  it('accepts a From address whose domain is written in upper case', async () => {
    const res = await send(basic({ From: { name: 'Shop', email: `Orders@${s.domain.toUpperCase()}` } }));
    expect(res.status).toBe(200);
  });

  it('makes one delivery per distinct address, the first kind winning (To before CC before BCC)', async () => {
    const res = await send(
      basic({
        To: [{ name: 'A', email: 'dup@recipient.test' }],
        CC: [
          { name: 'A', email: 'DUP@recipient.test' },
          { name: 'C', email: 'c@recipient.test' },
        ],
        BCC: [
          { name: '', email: 'c@recipient.test' },
          { name: '', email: 'b@recipient.test' },
        ],
      }),
    );
    expect(res.status).toBe(200);
    const rows = await h.services.db('deliveries').where({ message_id: res.body.MessageID }).orderBy('id');
    expect(rows.map((d: { recipient: string; kind: string }) => [d.recipient, d.kind])).toEqual([
      ['dup@recipient.test', 'to'],
      ['c@recipient.test', 'cc'],
      ['b@recipient.test', 'bcc'],
    ]);
  });
});

describe('sender key: codes 1, 13, 2', () => {
  it('answers 1 with HTTP 200 when no key is sent', async () => {
    await expectErrors(await send(basic(), null), 200, [{ Code: 1, Message: 'Missing SenderAPIKey: send it as "Authorization: Bearer <key>"' }]);
  });

  it('answers 13 with HTTP 200 for an unknown key', async () => {
    await expectErrors(await send(basic(), 'eg_live_doesnotexist000000000000'), 200, [{ Code: 13, Message: 'Invalid SenderAPIKey' }]);
  });

  it('answers 13 with HTTP 200 for a key deleted with emailgateway.deleteapi', async () => {
    const k = await h.call({ Command: 'emailgateway.addapi', SessionID: s.sessionId, DomainID: s.domainId, Description: 'to delete' });
    expect((await send(basic(), k.APIKey.APIKey)).status).toBe(200);
    const del = await h.call({ Command: 'emailgateway.deleteapi', SessionID: s.sessionId, APIKeyID: k.NewAPIKeyID });
    expect(del).toEqual({ Success: true, ErrorCode: 0 });
    await expectErrors(await send(basic(), k.APIKey.APIKey), 200, [{ Code: 13, Message: 'Invalid SenderAPIKey' }]);
  });

  it("answers 2 with HTTP 200 when the key's domain no longer belongs to the key's account", async () => {
    const own = await senderSetup(h);
    const other = await createUser(h);
    // Foreign keys cascade a deleted user or domain onto its keys, so "gone" is reachable as a domain moved away.
    await h.services.db('sender_domains').where({ id: own.domainId }).update({ user_id: other.userId });
    await expectErrors(await send(basic({}, own.domain), own.key), 200, [{ Code: 2, Message: 'Invalid DomainID or invalid user account' }]);
  });
});

describe('From: codes 3 and 23', () => {
  it('answers 3 when From is missing', async () => {
    await expectErrors(await send(without(basic(), 'From')), 200, [
      { Code: 3, Message: 'From parameter is missing or invalid: send {"name": "...", "email": "..."}' },
    ]);
  });

  it('answers 3 when From is a string rather than {name, email}', async () => {
    await expectErrors(await send(basic({ From: `orders@${s.domain}` })), 200, [{ Code: 3 }]);
  });

  it("answers 3 naming the key's domain when From is on another domain", async () => {
    await expectErrors(await send(basic({ From: { name: 'X', email: 'x@elsewhere.example.org' } })), 200, [
      { Code: 3, Message: `From address must be on ${s.domain}` },
    ]);
  });

  it('answers 3 when the From name shows a foreign address or a UTF-7 word, as the SMTP front refuses them; its own domain is fine', async () => {
    await expectErrors(await send(basic({ From: { name: 'ceo@bank.test', email: `orders@${s.domain}` } })), 200, [
      { Code: 3, Message: `From name mentions an address on "bank.test": only ${s.domain} may appear in it` },
    ]);
    await expectErrors(await send(basic({ From: { name: '=?UTF-7?Q?ceo+AEA-bank.test?=', email: `orders@${s.domain}` } })), 200, [
      { Code: 3, Message: 'From name holds a UTF-7 encoded word, which a mail reader may show as any address; encode it as UTF-8' },
    ]);
    // A look-alike at sign (fullwidth U+FF20) is an address to a reader too.
    await expectErrors(await send(basic({ From: { name: 'ceo\uff20bank.test', email: `orders@${s.domain}` } })), 200, [
      { Code: 3, Message: `From name mentions an address on "bank.test": only ${s.domain} may appear in it` },
    ]);
    const own = await send(basic({ From: { name: `Orders (orders@${s.domain})`, email: `orders@${s.domain}` } }));
    expect(own.body.MessageID).toEqual(expect.any(String));
  });

  it('takes a social handle in the From name ("Follow @acme"), which is no address, but not a dotted name after an @', async () => {
    const handle = await send(basic({ From: { name: 'Follow @acme', email: `orders@${s.domain}` } }));
    expect(handle.body.MessageID).toEqual(expect.any(String));
    await expectErrors(await send(basic({ From: { name: 'Follow @bank.test', email: `orders@${s.domain}` } })), 200, [
      { Code: 3, Message: `From name mentions an address on "bank.test": only ${s.domain} may appear in it` },
    ]);
    await expectErrors(await send(basic({ From: { name: 'ceo@bank', email: `orders@${s.domain}` } })), 200, [
      { Code: 3, Message: `From name mentions an address on "bank": only ${s.domain} may appear in it` },
    ]);
  });

  it('answers 23 for a malformed From address', async () => {
    await expectErrors(await send(basic({ From: { name: 'X', email: 'not-an-address' } })), 200, [
      { Code: 23, Message: 'Invalid from email address format: "not-an-address"' },
    ]);
  });

  it('answers 23 for a From name over 200 characters (unfoldable, it made a From line past 998 octets)', async () => {
    await expectErrors(await send(basic({ From: { name: 'N'.repeat(5000), email: `orders@${s.domain}` } })), 200, [
      { Code: 23, Message: 'From name must be at most 200 characters' },
    ]);
    expect((await send(basic({ From: { name: 'N'.repeat(200), email: `orders@${s.domain}` } }))).body).toMatchObject({ MessageID: expect.any(String) });
  });
});

describe('content: codes 8, 9, 10, 11', () => {
  it('answers 8 when Subject is missing', async () => {
    await expectErrors(await send(without(basic(), 'Subject')), 200, [{ Code: 8, Message: 'Missing Subject' }]);
  });

  it('answers 8 when Subject is only blanks', async () => {
    await expectErrors(await send(basic({ Subject: '   ' })), 200, [{ Code: 8, Message: 'Missing Subject' }]);
  });

  it('answers 8 when Subject holds a line break', async () => {
    await expectErrors(await send(basic({ Subject: 'Hello\r\nBcc: x@evil.test' })), 200, [
      { Code: 8, Message: 'Subject must be one line of at most 997 characters' },
    ]);
  });

  it('answers 8 for a Subject of 998 characters: unbroken, it is folded after one space into a 999-octet line', async () => {
    await expectErrors(await send(basic({ Subject: 'S'.repeat(998) })), 200, [{ Code: 8, Message: 'Subject must be one line of at most 997 characters' }]);
    await expectErrors(await send(basic({ Headers: { 'X-Note': 'v'.repeat(998) } })), 200, [
      { Code: 41, Message: 'Header "x-note" must be a single-line string of at most 997 characters' },
    ]);
    expect((await send(basic({ Subject: 'S'.repeat(997), Headers: { 'X-Note': 'v'.repeat(997) } }))).body).toMatchObject({ MessageID: expect.any(String) });
  });

  it('answers 9 when ContentType is missing', async () => {
    await expectErrors(await send(without(basic(), 'ContentType')), 200, [{ Code: 9, Message: 'Missing ContentType' }]);
  });

  it("answers 9 when ContentType is 'rich'", async () => {
    await expectErrors(await send(basic({ ContentType: 'rich' })), 200, [{ Code: 9, Message: 'ContentType must be html or plain' }]);
  });

  it('answers 10 when ContentType is html without HTMLContent', async () => {
    await expectErrors(await send(without(basic(), 'HTMLContent')), 200, [{ Code: 10, Message: 'Missing HTMLContent' }]);
  });

  it('answers 11 when ContentType is plain without PlainContent', async () => {
    await expectErrors(await send(without(basic({ ContentType: 'plain' }), 'PlainContent')), 200, [{ Code: 11, Message: 'Missing PlainContent' }]);
  });
});

describe('account and domain state: codes 12, 32, 34 (HTTP 200, as upstream §2.1)', () => {
  it('answers 12 with HTTP 200 once the user is disabled with user.update', async () => {
    const own = await senderSetup(h);
    expect((await send(basic({}, own.domain), own.key)).status).toBe(200);
    const upd = await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: own.userId, AccountStatus: 'Disabled' });
    expect(upd.Success).toBe(true);
    const before = await messageCount(own.userId);
    await expectErrors(await send(basic({}, own.domain), own.key), 200, [{ Code: 12, Message: 'Invalid or deactivated user account' }]);
    expect(await messageCount(own.userId)).toBe(before);
  });

  it("answers 32 with HTTP 200 while the domain is 'Approval Pending', naming domain and status", async () => {
    const own = await senderSetup(h);
    await h.services.db('sender_domains').where({ id: own.domainId }).update({ status: 'Approval Pending' });
    await expectErrors(await send(basic({}, own.domain), own.key), 200, [
      { Code: 32, Message: `Domain ${own.domain} is not activated (status: Approval Pending); verify its DNS records first` },
    ]);
    expect(await messageCount(own.userId)).toBe(0);
  });

  it('answers 34 with HTTP 200 for a user whose account is not verified', async () => {
    const own = await senderSetup(h);
    const upd = await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: own.userId, Verified: 0 });
    expect(upd.Success).toBe(true);
    expect(upd.UserInfo.Verified).toBe(0);
    await expectErrors(await send(basic({}, own.domain), own.key), 200, [{ Code: 34, Message: 'User account is not verified' }]);
    expect(await messageCount(own.userId)).toBe(0);
  });
});

describe('suppression at send time: code 14', () => {
  async function suppress(k: string, email: string) {
    const r = await h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${k}` }, body: { EmailAddress: email } });
    expect(r.status).toBe(200);
    expect(r.body.Suppression.EmailAddress).toBe(email.toLowerCase());
  }

  it('answers 14 naming the address when every recipient is suppressed, and stores nothing', async () => {
    await suppress(key, 'gone@recipient.test');
    const before = await messageCount();
    await expectErrors(await send(basic({ To: [{ name: 'Gone', email: 'GONE@recipient.test' }] })), 200, [
      { Code: 14, Message: 'Email address is in the suppression list: gone@recipient.test' },
    ]);
    expect(await messageCount()).toBe(before);
  });

  it('answers 14 when To, CC and BCC are all suppressed', async () => {
    await suppress(key, 'blocked-a@recipient.test');
    await suppress(key, 'blocked-b@recipient.test');
    const res = await send(basic({ To: [{ name: '', email: 'blocked-a@recipient.test' }], BCC: [{ name: '', email: 'blocked-b@recipient.test' }] }));
    await expectErrors(res, 200, [{ Code: 14 }]);
    expect(res.body.Errors[0].Message).toMatch(/^Email address is in the suppression list: /);
    expect(res.body.Errors[0].Message).toContain('blocked-a@recipient.test');
    expect(res.body.Errors[0].Message).toContain('blocked-b@recipient.test');
  });

  it('drops a suppressed recipient from a mixed list, delivers to the others and records a suppressed event', async () => {
    await suppress(key, 'dropped@recipient.test');
    const res = await send(
      basic({
        To: [
          { name: 'Keep', email: 'keep@recipient.test' },
          { name: 'Drop', email: 'Dropped@Recipient.test' },
        ],
        CC: [{ name: 'Copy', email: 'copy@recipient.test' }],
      }),
    );
    expect(res.status).toBe(200);
    const id = res.body.MessageID;
    const deliveries = await h.services.db('deliveries').where({ message_id: id }).orderBy('id');
    expect(deliveries.map((d: { recipient: string; kind: string; status: string }) => [d.recipient, d.kind, d.status])).toEqual([
      ['keep@recipient.test', 'to', 'queued'],
      ['copy@recipient.test', 'cc', 'queued'],
    ]);
    const events = await h.services.db('events').where({ message_id: id }).orderBy('id');
    const suppressed = events.filter((e: { type: string }) => e.type === 'suppressed');
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0].delivery_id).toBeNull();
    expect(JSON.parse(suppressed[0].data)).toEqual({ recipient: 'Dropped@Recipient.test' });
    expect(events.filter((e: { type: string }) => e.type === 'queued')).toHaveLength(2);
  });
});

describe('unresolvable references: codes 15, 16, 35, 36, 37, 38', () => {
  const cases: [string, number, string][] = [
    ['TemplateID', 15, 'TemplateID'],
    ['TargetListID', 16, 'TargetListID'],
    ['ListID', 35, 'ListID'],
    ['SubscriberID', 36, 'SubscriberID'],
    ['JourneyID', 37, 'JourneyID'],
    ['ActionID', 38, 'ActionID'],
  ];
  for (const [param, code, name] of cases) {
    it(`answers ${code} for a ${param} that does not exist`, async () => {
      // SubscriberID resolves within its ListID; alone it cannot resolve.
      const message = param === 'SubscriberID' ? 'Invalid SubscriberID: 5 does not exist without its ListID' : `Invalid ${name}: 5 does not exist`;
      await expectErrors(await send(basic({ [param]: 5 })), 200, [{ Code: code, Message: message }]);
    });
    it(`answers ${code} for a ${param} that is not a positive integer`, async () => {
      await expectErrors(await send(basic({ [param]: 'abc' })), 200, [{ Code: code, Message: `Invalid ${name}` }]);
    });
  }

  it('answers 16 alone (not 20) for a TargetListID send without To', async () => {
    await expectErrors(await send(without(basic({ TargetListID: 9 }), 'To')), 200, [{ Code: 16, Message: 'Invalid TargetListID: 9 does not exist' }]);
  });

  it('answers 15 (not 10) for a TemplateID send without HTMLContent', async () => {
    await expectErrors(await send(without(basic({ TemplateID: 4 }), 'HTMLContent')), 200, [{ Code: 15, Message: 'Invalid TemplateID: 4 does not exist' }]);
  });
});

describe('sending limit: code 17 (HTTP 200)', () => {
  it('answers 17 with HTTP 200 for 3 recipients against a daily limit of 2, then allows two single sends and refuses a third', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 2 });
    const one = (i: number) => basic({ To: [{ name: '', email: `q${i}@recipient.test` }] }, own.domain);
    await expectErrors(await send(basic({ To: many(3, 'q') }, own.domain), own.key), 200, [
      { Code: 17, Message: 'Email sending limit reached: the daily or monthly quota of this account is used up' },
    ]);
    expect(await messageCount(own.userId)).toBe(0);
    expect((await send(one(1), own.key)).status).toBe(200);
    expect((await send(one(2), own.key)).status).toBe(200);
    await expectErrors(await send(one(3), own.key), 200, [{ Code: 17 }]);
    expect(await messageCount(own.userId)).toBe(2);
  });

  it('a send refused by the monthly limit does not use up the daily allowance', async () => {
    const own = await senderSetup(h, { LimitEmailSendPerDay: 3, LimitEmailSendPerPeriod: 2 });
    // 3 fits the daily limit but not the monthly one: refused, and nothing may be counted.
    await expectErrors(await send(basic({ To: many(3, 'm') }, own.domain), own.key), 200, [{ Code: 17 }]);
    const single = await send(basic({ To: [{ name: '', email: 'm-single@recipient.test' }] }, own.domain), own.key);
    expect(single.status).toBe(200);
    expect(await messageCount(own.userId)).toBe(1);
  });
});

describe('recipients: codes 18–31', () => {
  it('answers 18 for a To entry without an email', async () => {
    await expectErrors(await send(basic({ To: [{ name: 'Nobody' }] })), 200, [{ Code: 18, Message: 'To[0] has no email address' }]);
  });

  it('answers 18 when To is not an array', async () => {
    await expectErrors(await send(basic({ To: 'ann@recipient.test' })), 200, [{ Code: 18, Message: 'To must be an array of {name, email}' }]);
  });

  it('answers 19 for an invalid To address, quoting it and its position', async () => {
    await expectErrors(
      await send(
        basic({
          To: [
            { name: 'A', email: 'a@recipient.test' },
            { name: 'B', email: 'b@@bad' },
          ],
        }),
      ),
      200,
      [{ Code: 19, Message: 'To[1] email address "b@@bad" is invalid' }],
    );
  });

  it('answers 20 when there is no recipient', async () => {
    await expectErrors(await send(without(basic(), 'To')), 200, [{ Code: 20, Message: 'There is no recipient set: To needs at least one {name, email}' }]);
    await expectErrors(await send(basic({ To: [] })), 200, [{ Code: 20 }]);
  });

  it('answers 20 for 51 To recipients and accepts 50', async () => {
    await expectErrors(await send(basic({ To: many(51, 't') })), 200, [{ Code: 20, Message: 'To has 51 recipients; at most 50 are allowed' }]);
    expect((await send(basic({ To: many(50, 't') }))).status).toBe(200);
  });

  it('answers 21 for a CC entry without an email', async () => {
    await expectErrors(await send(basic({ CC: [{ name: 'Carl' }] })), 200, [{ Code: 21, Message: 'CC[0] has no email address' }]);
  });

  it('answers 22 for an invalid CC address and for 51 CC', async () => {
    await expectErrors(await send(basic({ CC: [{ name: 'C', email: 'carl-at-example' }] })), 200, [
      { Code: 22, Message: 'CC[0] email address "carl-at-example" is invalid' },
    ]);
    await expectErrors(await send(basic({ CC: many(51, 'c') })), 200, [{ Code: 22, Message: 'CC has 51 recipients; at most 50 are allowed' }]);
  });

  it('answers 24 when BCC is not an array', async () => {
    await expectErrors(await send(basic({ BCC: 'hidden@recipient.test' })), 200, [{ Code: 24, Message: 'BCC must be an array of {name, email}' }]);
  });

  it('answers 25 for a BCC entry without an email', async () => {
    await expectErrors(await send(basic({ BCC: [{ name: 'Hidden' }] })), 200, [{ Code: 25, Message: 'BCC[0] has no email address' }]);
  });

  it('answers 26 for an invalid BCC address', async () => {
    await expectErrors(await send(basic({ BCC: [{ name: '', email: 'hidden@' }] })), 200, [{ Code: 26, Message: 'BCC[0] email address "hidden@" is invalid' }]);
  });

  it('answers 27 for 51 BCC', async () => {
    await expectErrors(await send(basic({ BCC: many(51, 'b') })), 200, [{ Code: 27, Message: 'BCC has 51 recipients; at most 50 are allowed' }]);
  });

  it('answers 28 when ReplyTo is not an array', async () => {
    await expectErrors(await send(basic({ ReplyTo: 'help@recipient.test' })), 200, [{ Code: 28, Message: 'ReplyTo must be an array of {name, email}' }]);
  });

  it('answers 29 for a ReplyTo entry without an email', async () => {
    await expectErrors(await send(basic({ ReplyTo: [{ name: 'Help' }] })), 200, [{ Code: 29, Message: 'ReplyTo[0] has no email address' }]);
  });

  it('answers 30 for an invalid ReplyTo address', async () => {
    await expectErrors(await send(basic({ ReplyTo: [{ name: 'Help', email: 'help at desk' }] })), 200, [
      { Code: 30, Message: 'ReplyTo[0] email address "help at desk" is invalid' },
    ]);
  });

  it('answers 31 for 11 ReplyTo addresses and accepts 10', async () => {
    await expectErrors(await send(basic({ ReplyTo: many(11, 'r') })), 200, [{ Code: 31, Message: 'ReplyTo has 11 recipients; at most 10 are allowed' }]);
    expect((await send(basic({ ReplyTo: many(10, 'r') }))).status).toBe(200);
  });
});

describe("Postern's own codes 40–44", () => {
  it('answers 40 for 21 tags and accepts 20', async () => {
    const tags = Array.from({ length: 21 }, (_, i) => `tag${i}`);
    await expectErrors(await send(basic({ Tags: tags })), 200, [
      { Code: 40, Message: 'Tags must be an array of at most 20 non-empty strings of at most 100 characters' },
    ]);
    expect((await send(basic({ Tags: tags.slice(0, 20) }))).status).toBe(200);
  });

  it('answers 41 for a header value holding CRLF', async () => {
    await expectErrors(await send(basic({ Headers: { 'X-Note': 'ok\r\nBcc: victim@recipient.test' } })), 200, [
      { Code: 41, Message: 'Header "x-note" must be a single-line string of at most 997 characters' },
    ]);
  });

  it('checks a Reply-To from Headers as ReplyTo (29), and answers 41 when ReplyTo is given too', async () => {
    await expectErrors(await send(basic({ Headers: { 'Reply-To': 'not an address' } })), 200, [{ Code: 29, Message: /ReplyTo/ }]);
    await expectErrors(await send(basic({ Headers: { 'Reply-To': 'a@b.test' }, ReplyTo: [{ name: '', email: 'c@d.test' }] })), 200, [
      { Code: 41, Message: 'Header "reply-to" is set by Postern and cannot be overridden' },
    ]);
  });

  it('answers 41 for a header name with a space', async () => {
    await expectErrors(await send(basic({ Headers: { 'X Note': 'v' } })), 200, [{ Code: 41, Message: 'Header name "x note" is not a valid header name' }]);
  });

  for (const name of ['Subject', 'DKIM-Signature', 'Return-Path', 'Authentication-Results', 'ARC-Seal', 'Received-SPF', 'X-Original-Authentication-Results']) {
    it(`answers 41 for an attempt to override ${name}`, async () => {
      await expectErrors(await send(basic({ Headers: { [name]: 'spoofed' } })), 200, [
        { Code: 41, Message: `Header "${name.toLowerCase()}" is set by Postern and cannot be overridden` },
      ]);
    });
  }

  it('answers 42 for content that is not base64', async () => {
    await expectErrors(await send(basic({ Attachments: [{ filename: 'a.txt', content: 'not base64!!', type: 'text/plain' }] })), 200, [
      { Code: 42, Message: 'Attachments[0] content is not valid base64' },
    ]);
  });

  it('answers 42 for an inline attachment without contentid', async () => {
    await expectErrors(await send(basic({ Attachments: [{ filename: 'logo.png', content: b64(10), type: 'image/png', disposition: 'inline' }] })), 200, [
      { Code: 42, Message: 'Attachments[0] is inline and needs a contentid to be referenced as cid:' },
    ]);
  });

  it("answers 42 for disposition 'weird'", async () => {
    await expectErrors(await send(basic({ Attachments: [{ filename: 'a.txt', content: b64(10), disposition: 'weird' }] })), 200, [
      { Code: 42, Message: 'Attachments[0] disposition must be attachment or inline' },
    ]);
  });

  it("answers 42 for a filename holding '/'", async () => {
    await expectErrors(await send(basic({ Attachments: [{ filename: '../etc/passwd', content: b64(10) }] })), 200, [
      { Code: 42, Message: 'Attachments[0] needs a filename without path separators or line breaks' },
    ]);
  });

  it('answers 42 when attachments together pass MAX_ATTACHMENT_BYTES, and accepts exactly the limit', async () => {
    const over = [
      { filename: 'a.bin', content: b64(600) },
      { filename: 'b.bin', content: b64(401) },
    ];
    await expectErrors(await send(basic({ Attachments: over })), 200, [
      { Code: 42, Message: `Attachments total 1001 bytes; at most ${MAX_ATTACHMENT_BYTES} are allowed` },
    ]);
    const exact = [
      { filename: 'a.bin', content: b64(600) },
      { filename: 'b.bin', content: b64(400) },
    ];
    expect((await send(basic({ Attachments: exact }))).status).toBe(200);
  });

  it('answers 42 for more than 100 attachments, before decoding any of them', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ filename: `a${i}`, content: 'QUFB' }));
    await expectErrors(await send(basic({ Attachments: many })), 200, [{ Code: 42, Message: 'Attachments may hold at most 100 files (got 101)' }]);
    expect((await send(basic({ Attachments: many.slice(0, 100) }))).status).toBe(200);
  });

  it('answers 42 for a message larger than SMTP_MAX_MESSAGE_BYTES as it would be sent, and accepts one just under', async () => {
    const big = await send(basic({ PlainContent: 'x'.repeat(MAX_MESSAGE_BYTES) }));
    expect(big.body.Errors).toHaveLength(1);
    expect(big.body.Errors[0].Code).toBe(42);
    expect(big.body.Errors[0].Message).toMatch(
      new RegExp(`^The message would be about \\d+ bytes as sent; at most ${MAX_MESSAGE_BYTES} are allowed \\(SMTP_MAX_MESSAGE_BYTES\\)$`),
    );
    expect((await send(basic({ PlainContent: 'x'.repeat(MAX_MESSAGE_BYTES - 10_000) }))).status).toBe(200);
  });

  it('answers 43 for a SendAt that is not a whole Unix time', async () => {
    for (const v of ['tomorrow', -5, 1.5]) {
      await expectErrors(await send(basic({ SendAt: v })), 200, [{ Code: 43, Message: 'SendAt must be a Unix time (seconds) no more than 30 days ahead' }]);
    }
  });

  it('sends at once (queued, not scheduled) for a SendAt in the past, and schedules one 29 days ahead', async () => {
    const past = await send(basic({ SendAt: Math.floor(Date.now() / 1000) - 3600 }));
    expect(past.status).toBe(200);
    expect(await h.services.db('deliveries').where({ message_id: past.body.MessageID }).pluck('status')).toEqual(['queued']);
    const ahead = Math.floor(Date.now() / 1000) + 29 * 86400;
    const later = await send(basic({ SendAt: ahead }));
    expect(later.status).toBe(200);
    const [d] = await h.services.db('deliveries').where({ message_id: later.body.MessageID });
    expect([d.status, Number(d.next_attempt_at)]).toEqual(['scheduled', ahead * 1000]);
  });

  it('answers 43 for SendAt 40 days ahead', async () => {
    const sendAt = Math.floor(Date.now() / 1000) + 40 * 86400;
    await expectErrors(await send(basic({ SendAt: sendAt })), 200, [{ Code: 43, Message: 'SendAt must be a Unix time (seconds) no more than 30 days ahead' }]);
  });

  it("answers 44 for TrackOpens 'sometimes' and accepts 'true' / 'false' / booleans", async () => {
    await expectErrors(await send(basic({ TrackOpens: 'sometimes' })), 200, [{ Code: 44, Message: 'TrackOpens must be "true" or "false"' }]);
    expect((await send(basic({ TrackLinks: 'true', TrackOpens: 'false' }))).status).toBe(200);
    expect((await send(basic({ TrackLinks: false, TrackOpens: true }))).status).toBe(200);
  });

  it('answers 41 for more than 50 headers', async () => {
    const headers = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`X-H${i}`, 'v']));
    await expectErrors(await send(basic({ Headers: headers })), 200, [{ Code: 41, Message: 'Headers may hold at most 50 entries' }]);
  });

  it("answers 44 for TrackLinks 'maybe'", async () => {
    await expectErrors(await send(basic({ TrackLinks: 'maybe' })), 200, [{ Code: 44, Message: 'TrackLinks must be "true" or "false"' }]);
  });
});

describe('several failures at once', () => {
  it('answers missing Subject, a bad To address and a bad BCC address together as [8, 19, 26]', async () => {
    const before = await messageCount();
    const res = await send(without(basic({ To: [{ name: 'X', email: 'x@' }], BCC: [{ name: '', email: 'nope' }] }), 'Subject'));
    await expectErrors(res, 200, [
      { Code: 8, Message: 'Missing Subject' },
      { Code: 19, Message: 'To[0] email address "x@" is invalid' },
      { Code: 26, Message: 'BCC[0] email address "nope" is invalid' },
    ]);
    expect(await messageCount()).toBe(before);
  });

  it('answers an empty body with every missing field: 8, 9, 3, 20', async () => {
    await expectErrors(await send({}), 200, [{ Code: 8 }, { Code: 9 }, { Code: 3 }, { Code: 20 }]);
  });

  it('answers the first code’s status when account checks fail together (disabled user, pending domain → 403 [12, 32])', async () => {
    const own = await senderSetup(h);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: own.userId, AccountStatus: 'Disabled' });
    await h.services.db('sender_domains').where({ id: own.domainId }).update({ status: 'Approval Pending' });
    await expectErrors(await send(basic({}, own.domain), own.key), 200, [{ Code: 12 }, { Code: 32 }]);
  });
});

describe('rate limit: 100 requests per 60 s per key', () => {
  it('answers 429 with Retry-After on the 101st request from one key, while another key is unaffected', async () => {
    const limited = await addKey(s);
    const other = await addKey(s);
    // Requests that fail validation are cheap, and still count: the limit is taken before validation.
    for (let i = 0; i < 100; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => send({}, limited)));
      for (const r of batch) expect(r.status).toBe(200);
    }
    const res = await send(basic(), limited);
    expect(res.status).toBe(429);
    expect(res.body.Errors).toHaveLength(1);
    expect(res.body.Errors[0].Code).toBe(429);
    expect(res.body.Errors[0].Message).toMatch(/^Too many requests: at most 100 per 60 seconds\. Try again in \d+ seconds\.$/);
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.body.Errors[0].Message).toContain(`Try again in ${retryAfter} seconds`);

    const fine = await send(basic(), other);
    expect(fine.status).toBe(200);
    expect(fine.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    expect(fine.headers['retry-after']).toBeUndefined();
  });
});

describe('legacy door and parameter spelling', () => {
  it('POST /api.php answers {Success:true, ErrorCode:0, MessageID}', async () => {
    const body = await h.call({ Command: 'emailgateway.sendemail', SenderAPIKey: key, ...basic() });
    expect(Object.keys(body).sort()).toEqual(['ErrorCode', 'MessageID', 'Success']);
    expect(body.Success).toBe(true);
    expect(body.ErrorCode).toBe(0);
    expect(body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    expect(await h.services.db('messages').where({ id: body.MessageID }).first('id')).toEqual({ id: body.MessageID });
  });

  it('POST /api.php answers validation failures as arrays: {Success:false, ErrorCode:[...], ErrorText:[...]}', async () => {
    const res = await h.request('POST', '/api.php', {
      body: { Command: 'emailgateway.sendemail', SenderAPIKey: key, ...without(basic({ ContentType: 'rich' }), 'Subject') },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: [8, 9], ErrorText: ['Missing Subject', 'ContentType must be html or plain'] });
  });

  it('POST /api.php without a key answers ErrorCode 1', async () => {
    const body = await h.call({ Command: 'emailgateway.sendemail', ...basic() });
    // An auth failure is a single lookup: scalar, as the compat notes' rule of thumb (§1.5) says.
    expect(body).toEqual({ Success: false, ErrorCode: 1, ErrorText: 'Missing SenderAPIKey: send it as "Authorization: Bearer <key>"' });
  });

  it('accepts SenderAPIKey in the JSON body of /api/v1/email', async () => {
    const res = await send({ SenderAPIKey: key, ...basic() }, null);
    expect(res.status).toBe(200);
    expect(res.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    const row = await h.services.db('messages').where({ id: res.body.MessageID }).first('user_id', 'domain_id');
    expect([Number(row.user_id), Number(row.domain_id)]).toEqual([s.userId, s.domainId]);
  });

  it('reads parameter names case-insensitively (subject, SUBJECT, htmlcontent, FROM.EMAIL)', async () => {
    const lower = await send({
      subject: 'lower-case names',
      contenttype: 'html',
      htmlcontent: '<p>x</p>',
      from: { name: 'S', email: `orders@${s.domain}` },
      to: [{ name: 'A', email: 'a@recipient.test' }],
    });
    expect(lower.status).toBe(200);
    const upper = await send({
      SUBJECT: 'UPPER-CASE NAMES',
      CONTENTTYPE: 'HTML',
      HtmlContent: '<p>x</p>',
      FROM: { NAME: 'S', EMAIL: `orders@${s.domain}` },
      TO: [{ NAME: 'A', EMAIL: 'a@recipient.test' }],
    });
    expect(upper.status).toBe(200);
    const subjects = await h.services.db('messages').whereIn('id', [lower.body.MessageID, upper.body.MessageID]).pluck('subject');
    expect(subjects.sort()).toEqual(['UPPER-CASE NAMES', 'lower-case names']);
  });
});
