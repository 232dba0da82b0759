/**
 * D3 (upstream §1.1): structured values sent as form fields, multipart fields or query parameters are JSON text
 * (`From={"name":…}`, `To=[…]`) and are decoded; free text that merely looks like JSON stays text.
 */
import supertest from 'supertest';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { decodeContent } from '../../src/mail/stored-content';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.close();
});

const fields = () => ({
  Subject: '["weekly", "news"]',
  ContentType: 'plain',
  PlainContent: '{"not": "decoded"}',
  From: JSON.stringify({ name: 'Ada', email: `ada@${s.domain}` }),
  To: JSON.stringify([
    { name: 'Jane', email: 'jane@recipient.test' },
    { Name: 'Joe', Email: 'joe@recipient.test' },
  ]),
  Tags: '["form"]',
});

async function stored(messageId: string) {
  const m = await h.services.db('messages').where({ id: messageId }).first('from_email', 'subject', 'tags', 'content');
  const rcpts = await h.services.db('deliveries').where({ message_id: messageId }).orderBy('id').pluck('recipient');
  // The request is stored as sent (the worker composes its MIME at delivery).
  const { content, ...rest } = m;
  return { ...rest, rcpts, text: decodeContent(content).text };
}

it('decodes From, To and Tags sent as form fields on /api.php, and leaves Subject and content as text', async () => {
  const res = await supertest(h.app)
    .post('/api.php')
    .type('form')
    .send({ Command: 'emailgateway.sendemail', SenderAPIKey: s.key, ...fields() });
  expect(res.body).toMatchObject({ Success: true, ErrorCode: 0 });
  const m = await stored(res.body.MessageID);
  expect(m).toMatchObject({
    from_email: `ada@${s.domain}`,
    subject: '["weekly", "news"]',
    tags: '["form"]',
    rcpts: ['jane@recipient.test', 'joe@recipient.test'],
  });
  expect(m.text).toBe('{"not": "decoded"}');
});

it('decodes them from multipart fields on the v1 route too', async () => {
  let req = supertest(h.app).post('/api/v1/email').set('Authorization', `Bearer ${s.key}`);
  for (const [k, v] of Object.entries(fields())) req = req.field(k, v);
  const res = await req;
  expect(res.status).toBe(200);
  const m = await stored(res.body.MessageID);
  expect(m).toMatchObject({ from_email: `ada@${s.domain}`, subject: '["weekly", "news"]', rcpts: ['jane@recipient.test', 'joe@recipient.test'] });
});

it('answers the usual codes for form JSON that does not parse', async () => {
  const res = await supertest(h.app)
    .post('/api.php')
    .type('form')
    .send({ Command: 'emailgateway.sendemail', SenderAPIKey: s.key, ...fields(), From: '{"name": "Ada", "email": ', To: '[{]' });
  expect(res.body.Success).toBe(false);
  expect(res.body.ErrorCode).toEqual(expect.arrayContaining([3]));
});

it('keeps the JSON body as sent: a JSON string in a JSON body is not decoded', async () => {
  const res = await supertest(h.app).post('/api/v1/email').set('Authorization', `Bearer ${s.key}`).send(fields());
  expect(res.body.Errors.map((e: { Code: number }) => e.Code)).toEqual(expect.arrayContaining([3]));
});
