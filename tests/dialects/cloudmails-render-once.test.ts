/**
 * CloudMails batch placeholders are filled once, before the worker renders Postern's own tags: a custom_args value
 * holding placeholder or tag text reaches the recipient as written (in HTML as character references, which read the
 * same), and one used in a subject or text body, where it cannot be made inert, refuses that message with a 400.
 */
import { simpleParser } from 'mailparser';
import supertest from 'supertest';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
let key: string;

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: 'http://track.postern.test' });
  await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: rig.s.userId, Plan: 'Enterprise' });
  const r = await rig.h.call({ Command: 'user.apikey.create', SessionID: rig.s.sessionId, Note: 'cloudmails', KeyType: 'account' });
  key = r.APIKey.APIKey;
}, 60000);
afterAll(async () => {
  await rig.close();
});

const batch = (messages: unknown[]) =>
  supertest(rig.h.app)
    .post('/v1/send/batch')
    .set('Authorization', `Bearer ${key}`)
    .send({ from: `orders@${rig.s.domain}`, messages });

it('sends a custom_args value holding placeholder or tag text as written in HTML, rendered neither by the fill nor by the worker', async () => {
  const to = 'ada@recipient.test';
  const r = await batch([
    {
      to,
      subject: 'Order {{order}}',
      html: '<p>A {{{name}}}</p><p>B {{name}}</p><p>C {{{other}}}</p>',
      custom_args: { order: '7', name: '{{ Subscriber:EmailAddress }} %MFROMDomain% {{order}}', other: '{{order}}' },
    },
  ]);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ total: 1, accepted: 1 });
  await waitFor(() => rig.sink.received.some((x) => x.to.includes(to)), 20000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((x) => x.to.includes(to))!.raw);
  expect(mail.subject).toBe('Order 7');
  const shown = '&#123;&#123; Subscriber:EmailAddress }} &#37;MFROMDomain&#37; &#123;&#123;order}}';
  expect(mail.html).toContain(`<p>A ${shown}</p><p>B ${shown}</p><p>C {{order}}</p>`);
  expect(mail.html).not.toContain(to);
});

it('refuses only the message whose subject or text would carry a tag from custom_args, naming the key', async () => {
  const ok = 'bob@recipient.test';
  const r = await batch([
    { to: 'eve@recipient.test', subject: 'Hi {{name}}', text: 'x', custom_args: { name: '{{ Link:Unsubscribe }}' } },
    { to: 'eve@recipient.test', subject: 'Hi', text: 'Hi {{ name }}', custom_args: { name: '%Subscriber:EmailAddress%' } },
    { to: ok, subject: 'Hi {{name}}', text: 'Hi {{name}}: 100% {{ x }}', custom_args: { name: 'Bob {{x}}', x: '{{y}}' } },
  ]);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ total: 3, accepted: 1, rejected: 2 });
  for (const i of [0, 1])
    expect(r.body.results[i]).toEqual({
      index: i,
      status: 'failed',
      error: { code: 400, error: 'Invalid Request', message: expect.stringContaining('custom_args.name holds a personalisation tag') },
    });
  await waitFor(() => rig.sink.received.some((x) => x.to.includes(ok)), 20000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((x) => x.to.includes(ok))!.raw);
  expect(mail.subject).toBe('Hi Bob {{x}}');
  expect(mail.text?.trim()).toBe('Hi Bob {{x}}: 100% {{y}}');
  expect(rig.sink.received.some((x) => x.to.includes('eve@recipient.test'))).toBe(false);
});

it('refuses a custom_args value that would form a tag with the text or value beside it, in HTML, subject or text', async () => {
  const r = await batch([
    { to: 'mallory@recipient.test', subject: 'Hi', text: 'Save {{pct}}% now', custom_args: { pct: '%Subscriber:EmailAddress' } },
    { to: 'mallory@recipient.test', subject: 'Save {{pct}}%', text: 'x', custom_args: { pct: '%Subscriber:EmailAddress' } },
    { to: 'mallory@recipient.test', subject: 'Hi', html: '<p>{{{a}}}{{{b}}}</p>', custom_args: { a: '{{{ Link:Unsub', b: 'scribe }}}' } },
  ]);
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ total: 3, accepted: 0, rejected: 3 });
  for (const i of [0, 1, 2])
    expect(r.body.results[i]).toEqual({
      index: i,
      status: 'failed',
      error: { code: 400, error: 'Invalid Request', message: expect.stringMatching(/^custom_args\.(pct|a|b) forms a personalisation tag/) },
    });
});
