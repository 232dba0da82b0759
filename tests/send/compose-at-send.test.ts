/**
 * Compose at delivery (issue 15 §1): accept stores the request, the worker composes. A batch of 1,000 tracked,
 * personalised messages reaches the sink with exactly the bodies the per-message path (buildVariant + composeMime,
 * as accept made them before) gives for the same input and track id, DKIM-signed so that mailauth verifies them;
 * clicks on static and on personalised (templated) links resolve for each recipient.
 */
import { composeMime } from '../../src/mail/compose';
import { decodeContent } from '../../src/mail/stored-content';
import { buildVariant, LinkTable } from '../../src/tracking/apply';
import { dkimVerdict, publishedDkim } from '../helpers/dkim';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

const BASE = 'http://track.postern.test';
const N = Number(process.env.COMPOSE_TEST_N ?? 1000);
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0', DELIVERY_CONCURRENCY: '50' });
  await rig.h.services.db('sender_domains').where({ id: rig.s.domainId }).update({ unsubscribe_link: true });
}, 60000);
afterAll(async () => {
  await rig.close();
});

const HTML =
  '<!DOCTYPE html>\n<html><head><title>T</title></head><body>\n' +
  '<p>Hi {{ upper Subscriber:EmailAddress }} &amp; welcome. <a href="https://shop.example/item?a=1&amp;b=2">Buy</a></p>\n' +
  '<p><a href="mailto:help@example.com">Mail</a> <a class="notrack" href="https://untracked.example/">Raw</a> <a href="https://shop.example/item?a=1&amp;b=2">Again</a></p>\n' +
  '<p><a href="https://other.example/path">Other</a> {{ Subscriber:Nickname|"there" }}</p>\n' +
  '<p><a href="https://shop.example/me?e={{ Subscriber:EmailAddress|"a&quot;b" }}">Yours</a></p>\n' +
  '</body></html>\n';

const message = (i: number) => ({
  Subject: `Order {{ Subscriber:EmailAddress }} #${i}`,
  ContentType: 'html',
  HTMLContent: HTML,
  PlainContent: `Hello {{ Subscriber:EmailAddress }}, see https://shop.example/item\n`,
  From: { name: 'Shop', email: `shop@${rig.s.domain}` },
  To: [{ name: `Reader ${i}`, email: `reader${i}@recipient.test` }],
  Headers: { 'X-Campaign': 'compose' },
  TrackLinks: true,
  TrackOpens: true,
});

// Multipart boundaries are random per composition, and SMTP sends every line ending as CRLF (for both paths alike);
// everything else must match byte for byte.
const normalise = (raw: string) =>
  raw
    .replace(/----_NmP-[0-9a-f]+-Part_\d+/g, 'BOUNDARY')
    .replace(/boundary="[^"]+"/g, 'boundary="B"')
    .replace(/\r?\n/g, '\r\n');
const withoutDkim = (raw: string) => raw.replace(/^DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*/m, '');

it('sends a batch of 1,000 tracked, personalised messages with the bodies the per-message path gives, DKIM verified', async () => {
  const res = await rig.h.request('POST', '/api/v1/email/batch', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: { Messages: Array.from({ length: N }, (_, i) => message(i)) },
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ Total: N, Accepted: N });
  await waitFor(() => rig.sink.received.length >= N, 120000, 'every delivery');

  const { db, config } = rig.h.services;
  const domain = await db('sender_domains').where({ id: rig.s.domainId }).first();
  const dkimValue = await publishedDkim(rig.h, rig.s.sessionId, rig.s.domainId);
  const rows = await db('deliveries as d')
    .join('messages as m', 'm.id', 'd.message_id')
    .where('m.domain_id', rig.s.domainId)
    .select('d.recipient', 'd.track_id', 'd.message_id', 'm.content', 'm.mime', 'm.subject', 'm.mime_size');
  expect(rows).toHaveLength(N);
  const byRecipient = new Map(rig.sink.received.map((r) => [r.to[0], r.raw]));
  let sizeOff = 0;
  for (const row of rows) {
    expect(row.mime).toBeNull();
    const raw = byRecipient.get(row.recipient)!;
    expect(raw).toBeDefined();
    const c = decodeContent(row.content);
    const v = buildVariant({
      config,
      domain,
      plan: c.plan!,
      content: c,
      fields: { EmailAddress: row.recipient },
      links: new LinkTable(),
      trackId: row.track_id,
    });
    const before = await composeMime({ ...c, subject: v.subject, html: v.html, text: v.text, headers: { ...c.headers, ...v.headers }, date: new Date(c.date) });
    expect(normalise(withoutDkim(raw.toString('latin1')))).toBe(normalise(before.toString('latin1')));
    // The stored subject is the recipient's (one recipient per message); Size is an estimate made at accept.
    expect(row.subject).toBe(v.subject);
    sizeOff = Math.max(sizeOff, Math.abs(Number(row.mime_size) - before.length) / before.length);
  }
  expect(sizeOff).toBeLessThan(0.1);
  // mailauth verifies each signature against the published key (a sample: verification is the slow part).
  for (const row of rows.filter((_, i) => i % 50 === 0)) {
    expect(await dkimVerdict(byRecipient.get(row.recipient)!, rig.s.domain, dkimValue)).toMatchObject({ result: 'pass', signingDomain: rig.s.domain });
  }
}, 300000);

it('resolves clicks on static links and on a personalised link to what each recipient was shown', async () => {
  const html = (to: string) => {
    const raw = rig.sink.received.find((r) => r.to[0] === to)!.raw.toString('latin1');
    return raw.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
  };
  for (const i of [0, 1, N - 1]) {
    const to = `reader${i}@recipient.test`;
    const links = [...html(to).matchAll(/href="(http:\/\/track\.postern\.test\/t\/c\/[^"]+)"/g)].map((m) => m[1].slice(BASE.length));
    expect(links).toHaveLength(4); // Buy, Again, Other, Yours
    const targets = [];
    for (const l of links) {
      const r = await rig.h.request('GET', l, { headers: { Host: new URL(BASE).host } });
      expect(r.status).toBe(302);
      targets.push(r.headers.location);
    }
    expect(targets).toEqual([
      'https://shop.example/item?a=1&b=2',
      'https://shop.example/item?a=1&b=2',
      'https://other.example/path',
      `https://shop.example/me?e=${to}`,
    ]);
  }
});

it('sends HTML that already holds the private-use characters compose uses as markers, as written and with nothing copied', async () => {
  const to = 'marker@recipient.test';
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      ...message(0),
      Subject: 'Markers',
      To: [{ name: '', email: to }],
      // A stray end marker beside a raw fallback with a link (its preparation threw), and a stray "tag 0" marker.
      HTMLContent:
        '<html><body><p>\uE002 {{{ Subscriber:Nickname|"<a href=\\"https://shop.example/f\\">f</a>" }}} ' +
        '<a href="https://shop.example/p">P</a> [\uE0000\uE001] {{ Subscriber:EmailAddress }}</p></body></html>',
    },
  });
  expect(res.status).toBe(200);
  const id = res.body.MessageID;
  await waitFor(
    async () => (await rig.h.services.db('deliveries').where({ message_id: id }).whereIn('status', ['delivered', 'failed'])).length === 1,
    20000,
    'the delivery',
  );
  expect((await rig.h.services.db('deliveries').where({ message_id: id }).first()).status).toBe('delivered');
  const raw = rig.sink.received.find((r) => r.to[0] === to)!.raw.toString('latin1');
  const html = raw.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
  expect(html).toContain('[&#xE000;0&#xE001;]'); // the literal text, not a copy of tag 0 (the fallback's link)
  expect(html).toContain('<p>&#xE002; ');
  const paragraph = /<p>&#xE002;[\s\S]*?<\/p>/.exec(html)![0];
  expect(paragraph.split(to).length - 1).toBe(1); // the address tag rendered once, in its place
});
