/**
 * A click link redirects only on the host it was issued on: without TRACKING_BASE_URL, the sending domain's own
 * tracking host. The same signed link on another tenant's tracking host (or the api's name) is 404 and records nothing.
 */
import { simpleParser } from 'mailparser';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { senderSetup } from '../helpers/harness';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig({ MACHINE_HIT_SECONDS: '0' });
});
afterAll(async () => {
  await rig.close();
});

it("redirects on the sending domain's tracking host only", async () => {
  const { h, s } = rig;
  const other = await senderSetup(h);
  const to = `reader.${Date.now()}@recipient.test`;
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Host',
      ContentType: 'html',
      HTMLContent: '<p><a href="https://shop.example/item">Buy</a></p>',
      From: { email: `shop@${s.domain}` },
      To: [{ email: to }],
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === to), 15000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((r) => r.to[0] === to)!.raw);
  const link = new URL([...String(mail.html).matchAll(/href="([^"]*\/t\/c\/[^"]*)"/g)][0][1]);
  expect(link.hostname.endsWith(`.${s.domain}`)).toBe(true);
  const otherHost = link.hostname.slice(0, -s.domain.length) + other.domain;
  for (const host of [otherHost, '127.0.0.1']) {
    const r = await h.request('GET', link.pathname, { headers: { Host: host } });
    expect({ host, status: r.status }).toEqual({ host, status: 404 });
  }
  expect(await h.services.db('events').where({ message_id: res.body.MessageID, type: 'clicked' })).toHaveLength(0);
  const ok = await h.request('GET', link.pathname, { headers: { Host: link.hostname } });
  expect(ok.status).toBe(302);
  expect(ok.headers.location).toBe('https://shop.example/item');
  expect(await h.services.db('events').where({ message_id: res.body.MessageID, type: 'clicked' })).toHaveLength(1);
});
