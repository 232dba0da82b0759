/**
 * Input the send doors refuse before anything is stored: an address whose "domain" is an IP address (the worker
 * would connect to it as the domain's implicit MX) or whose local part holds control characters, and the identity
 * headers the SMTP front checks (Resent-From, Resent-Sender), which a request may not set.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.close();
});

const send = (extra: Record<string, unknown>) =>
  h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'refused', ContentType: 'plain', PlainContent: 'b', From: { email: `a@${s.domain}` }, To: [{ email: 'r@dest.test' }], ...extra },
  });

it.each(['root@127.0.0.1', 'admin@10.0.0.5', 'x@[127.0.0.1]', 'vic\u0000tim@example.org', 'vic\u001btim@example.org'])(
  'refuses the recipient %j and stores nothing',
  async (email) => {
    const r = await send({ To: [{ email }] });
    expect(r.body.MessageID).toBeUndefined();
    expect(r.body.Errors[0].Message).toMatch(/is invalid/);
  },
);

it.each(['Resent-From', 'Resent-Sender', 'resent-from'])('refuses a %s header (41)', async (name) => {
  const r = await send({ Headers: { [name]: 'CEO <ceo@bank.test>' } });
  expect(r.body.Errors).toEqual([{ Code: 41, Message: `Header "${name.toLowerCase()}" is set by Postern and cannot be overridden` }]);
});

it('still takes an ordinary address and header', async () => {
  const r = await send({ To: [{ email: 'someone@sub.dest.test' }], Headers: { 'X-Order': '42' } });
  expect(r.body.MessageID).toEqual(expect.any(String));
  expect(await h.services.db('messages').where({ user_id: s.userId }).count({ n: '*' })).toEqual([{ n: 1 }]);
});

it.each([
  [{ 'List-Unsubscribe': 'https://app.example/u/1' }, 'List-Unsubscribe', 'must be one or more <https:…> or <mailto:…> URIs, comma-separated'],
  [{ 'List-Unsubscribe': '<javascript:alert(1)>' }, 'List-Unsubscribe', 'must be one or more <https:…> or <mailto:…> URIs, comma-separated'],
  [
    { 'List-Unsubscribe': '<https://app.example/u/1>', 'List-Unsubscribe-Post': 'yes' },
    'List-Unsubscribe-Post',
    'must be "List-Unsubscribe=One-Click" (RFC 8058)',
  ],
  [
    { 'List-Unsubscribe': '<mailto:u@app.example>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    'List-Unsubscribe-Post',
    'needs a List-Unsubscribe header with an <https:…> URI',
  ],
])('refuses a malformed unsubscribe header %j (41)', async (Headers, name, why) => {
  const r = await send({ Headers });
  expect(r.body.MessageID).toBeUndefined();
  expect(r.body.Errors).toEqual([{ Code: 41, Message: `Header "${name.toLowerCase()}" ${why}` }]);
});
