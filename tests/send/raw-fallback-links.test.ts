/**
 * A link in the raw fallback of a triple-brace tag (`{{{ Subscriber:Promo|"<a href=…>…</a>" }}}`) is the sender's
 * own HTML, sent as written when the field is empty: with link tracking on it is tracked like any link of the body
 * (as rendering the copy and then rewriting it, buildVariant, tracks it), and a copy that shows the field's value
 * instead carries no such link.
 */
import { simpleParser } from 'mailparser';
import { decodeContent } from '../../src/mail/stored-content';
import { buildVariant, LinkTable } from '../../src/tracking/apply';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, makeField, makeList, Owner } from '../lists/fixtures';

const BASE = 'http://track.postern.test';
const HTML =
  '<html><body><p>{{{ Subscriber:Promo|"<a href=\\"https://promo.example/c?a=1&amp;b=2\\">Our offer</a>" }}}</p>' +
  '<p><a href="https://shop.example/">Shop</a></p></body></html>';

let rig: RelayRig;
let listId: number;
let subscriberId: number;

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0' });
  const o: Owner = { userId: rig.s.userId, sessionId: rig.s.sessionId };
  listId = await makeList(rig.h, o);
  const promo = await makeField(rig.h, o, listId, 'Promo', 'Promo');
  subscriberId = await addSubscriber(rig.h, o, listId, 'member@list.test', { CustomFields: { [String(promo)]: '<b>10 % off</b>' } });
}, 60000);
afterAll(async () => {
  await rig.close();
});

async function send(to: string, extra: Record<string, unknown> = {}) {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Offer',
      ContentType: 'html',
      HTMLContent: HTML,
      From: { name: 'Shop', email: `shop@${rig.s.domain}` },
      To: [{ name: 'R', email: to }],
      TrackLinks: 'true',
      TrackOpens: 'false',
      ...extra,
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === to), 20000, `the delivery to ${to}`);
  const html = (await simpleParser(rig.sink.received.find((r) => r.to[0] === to)!.raw)).html as string;
  const clicks = [...html.matchAll(/href="(http:\/\/track\.postern\.test\/t\/c\/[^"]+)"/g)].map((m) => m[1].slice(BASE.length));
  const targets: string[] = [];
  for (const c of clicks) {
    const r = await rig.h.request('GET', c, { headers: { Host: new URL(BASE).host } });
    expect(r.status).toBe(302);
    targets.push(r.headers.location);
  }
  return { html, targets };
}

it('tracks the link of a raw fallback a copy shows, as the per-message path does, and shows the value where there is one', async () => {
  const to = 'reader@recipient.test';
  const { html, targets } = await send(to);
  expect(targets).toEqual(['https://promo.example/c?a=1&b=2', 'https://shop.example/']);
  expect(html).toContain('>Our offer</a></p>');
  expect(html).not.toContain('promo.example');

  const { db, config } = rig.h.services;
  const row = await db('deliveries as d').join('messages as m', 'm.id', 'd.message_id').where('d.recipient', to).first('m.content', 'd.track_id');
  const c = decodeContent(row.content);
  const domain = await db('sender_domains').where({ id: rig.s.domainId }).first();
  const v = buildVariant({ config, domain, plan: c.plan!, content: c, fields: { EmailAddress: to }, links: new LinkTable(), trackId: row.track_id });
  expect(html.trim()).toBe(v.html!.trim());

  // A copy whose field has a value shows it, escaped, and no fallback link; its other links keep their tracking.
  const other = await send('copy@other.test', { ListID: listId, SubscriberID: subscriberId });
  expect(other.html).toContain('<p>&lt;b&gt;10 % off&lt;/b&gt;</p>');
  expect(other.targets).toEqual(['https://shop.example/']);
});
