/**
 * Personalisation values are inserted once, as written: a subscriber field (anyone can write their own through
 * subscriber.subscribe) or a CloudMails custom_args value that holds tag text such as `{{ Subscriber:Secret }}`,
 * `%Subscriber:Secret%` or `{{{ Link:Unsubscribe }}}` is shown as that text, never rendered a second time, in the
 * subject, the HTML and text bodies, tracked and untracked links, and the stored subject.
 */
import { simpleParser } from 'mailparser';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, makeField, makeList, Owner } from '../lists/fixtures';

const BASE = 'http://track.postern.test';
const SECRET = 'S3CRET-coupon-7781';
/** What the subscriber wrote into their own FirstName. */
const INJECTED = '{{ Subscriber:Secret }} %Subscriber:Secret% {{{ Link:Unsubscribe }}} {{ Subscriber:Secret|"x" }}';

let rig: RelayRig;
let o: Owner;
let listId: number;
let subscriberId: number;

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0' });
  o = { userId: rig.s.userId, sessionId: rig.s.sessionId };
  listId = await makeList(rig.h, o);
  const first = await makeField(rig.h, o, listId, 'First name', 'FirstName');
  const secret = await makeField(rig.h, o, listId, 'Secret', 'Secret');
  subscriberId = await addSubscriber(rig.h, o, listId, 'member@list.test', { CustomFields: { [String(first)]: INJECTED, [String(secret)]: SECRET } });
}, 60000);
afterAll(async () => {
  await rig.close();
});

const quotedPrintable = (raw: Buffer) =>
  raw
    .toString('latin1')
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));

async function delivered(to: string) {
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === to), 20000, `the delivery to ${to}`);
  const raw = rig.sink.received.find((r) => r.to[0] === to)!.raw;
  return { raw, body: quotedPrintable(raw), mail: await simpleParser(raw) };
}

/** Neither the other field nor an unsubscribe token was pulled in. */
function expectLiteral(s: string | undefined) {
  expect(s).toBeDefined();
  expect(s).not.toContain(SECRET);
  expect(s).not.toContain('/t/u/');
}

describe.each([
  ['POST /api/v1/email', '/api/v1/email', false],
  ['POST /api/v1/email/batch', '/api/v1/email/batch', true],
])('a subscriber field holding tags, sent through %s', (_name, path, batch) => {
  const to = `copy-${batch ? 'batch' : 'single'}@other.test`;
  let got: Awaited<ReturnType<typeof delivered>>;
  let messageId: string;

  beforeAll(async () => {
    const message = {
      Subject: 'Hi {{{ Subscriber:FirstName }}} / {{ Subscriber:FirstName }}',
      ContentType: 'html',
      HTMLContent:
        '<html><body><p>A {{{ Subscriber:FirstName }}}</p><p>B {{ Subscriber:FirstName }}</p><p>C %Subscriber:FirstName%</p>' +
        '<p><a href="https://shop.example/me?n={{ Subscriber:FirstName }}">Tracked</a> ' +
        '<a class="notrack" href="https://shop.example/raw?n={{{ Subscriber:FirstName }}}">Untracked</a></p></body></html>',
      PlainContent: 'A {{{ Subscriber:FirstName }}}\nB {{ Subscriber:FirstName }}\nC %Subscriber:FirstName%\n',
      From: { name: 'Shop', email: `shop@${rig.s.domain}` },
      To: [{ name: 'Copy', email: to }],
      ListID: listId,
      SubscriberID: subscriberId,
      TrackLinks: 'true',
      TrackOpens: 'false',
    };
    const res = await rig.h.request('POST', path, { headers: { Authorization: `Bearer ${rig.s.key}` }, body: batch ? { Messages: [message] } : message });
    expect(res.status).toBe(200);
    messageId = [batch ? res.body.Results[0].MessageID : res.body.MessageID].flat()[0];
    expect(typeof messageId).toBe('string');
    got = await delivered(to);
  }, 60000);

  it('shows the value as written in the subject, both bodies and the stored subject', async () => {
    expect(got.mail.subject).toBe(`Hi ${INJECTED} / ${INJECTED}`);
    expectLiteral(got.body);
    const escaped = INJECTED.replace(/"/g, '&quot;');
    expect(got.mail.html).toContain(`<p>A ${escaped}</p><p>B ${escaped}</p><p>C ${escaped}</p>`);
    expect(got.mail.text).toContain(`A ${INJECTED}\nB ${INJECTED}\nC ${INJECTED}\n`);
    const row = await rig.h.services.db('messages').where({ id: messageId }).first('subject');
    expect(row.subject).toBe(`Hi ${INJECTED} / ${INJECTED}`);
  });

  it('sends an untracked link with the value as written, and a tracked one redirects to it', async () => {
    const untracked = (got.mail.html as string).match(/href="(https:\/\/shop\.example\/raw\?n=[^"]*)"/)![1];
    expect(untracked).toBe(`https://shop.example/raw?n=${INJECTED.replace(/"/g, '&quot;')}`);
    const clicks = [...(got.mail.html as string).matchAll(/href="(http:\/\/track\.postern\.test\/t\/c\/[^"]+)"/g)].map((m) => m[1].slice(BASE.length));
    expect(clicks).toHaveLength(1);
    const r = await rig.h.request('GET', clicks[0], { headers: { Host: new URL(BASE).host } });
    expect(r.status).toBe(302);
    expect(decodeURIComponent(r.headers.location)).toBe(`https://shop.example/me?n=${INJECTED}`);
  });
});
