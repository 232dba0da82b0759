/**
 * A link whose scheme and host come from a personalisation tag is not tracked: a subscriber who sets their own field
 * to a page of their choosing must not get a signed link that redirects there from the sender's tracking host. A link
 * whose tags are only in its path or query still is.
 */
import { simpleParser } from 'mailparser';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, makeField, makeList, Owner } from '../lists/fixtures';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ MACHINE_HIT_SECONDS: '0' });
});
afterAll(() => rig.close());

it('tracks a templated link on a fixed host, and sends one whose host comes from a field as rendered, untracked', async () => {
  const { h, s } = rig;
  const o: Owner = { userId: s.userId, sessionId: s.sessionId };
  const listId = await makeList(h, o);
  const site = await makeField(h, o, listId, 'Website', 'Website');
  const phish = 'https://phish.example/login';
  const subscriberId = await addSubscriber(h, o, listId, 'member@list.test', { CustomFields: { [String(site)]: phish } });
  const html =
    '<p><a href="{{ Subscriber:Website }}">Site</a> <a href="https://x{{ Subscriber:ListID }}.example/a">Host</a> ' +
    '<a href="https://shop.example/p?l={{ Subscriber:ListID }}">Shop</a> ' +
    // The tag in the host written with entities: parse5 decodes it into the href, where it must count as a tag too.
    '<a href="https://&#123;&#123;Subscriber:Website&#125;&#125;/x?l={{ Subscriber:ListID }}">Encoded</a></p>';
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      ListID: listId,
      SubscriberID: subscriberId,
      Subject: 'Links',
      ContentType: 'html',
      HTMLContent: html,
      TrackLinks: 'true',
      TrackOpens: 'false',
      From: { name: '', email: `news@${s.domain}` },
      To: [{ name: '', email: 'member@list.test' }],
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === 'member@list.test'), 15000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((r) => r.to[0] === 'member@list.test')!.raw);
  const hrefs = [...String(mail.html).matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
  expect(hrefs[0]).toBe(phish);
  expect(hrefs[1]).toBe(`https://x${listId}.example/a`);
  expect(hrefs[2]).toMatch(/\/t\/c\//);
  expect(hrefs[3]).not.toMatch(/\/t\/c\//);
  expect(await h.services.db('tracked_links').where({ message_id: res.body.MessageID })).toHaveLength(1);
  const click = new URL(hrefs[2]);
  const followed = await h.request('GET', click.pathname, { headers: { Host: click.host } });
  expect(followed.status).toBe(302);
  expect(followed.headers.location).toBe(`https://shop.example/p?l=${listId}`);

  // A stored link whose first tag is in the host (as an older Postern stored them) sends no click there either.
  await h.services.db('tracked_links').where({ message_id: res.body.MessageID }).update({ url: 'https://{{ Subscriber:Website }}/x' });
  const refused = await h.request('GET', click.pathname, { headers: { Host: click.host } });
  expect(refused.status).toBe(404);
  expect(refused.headers.location).toBeUndefined();
});

it("reads a message's stored content once for many clicks on its templated link at once, not once per click", async () => {
  const { h, s } = rig;
  const o: Owner = { userId: s.userId, sessionId: s.sessionId };
  const listId = await makeList(h, o);
  const subscriberId = await addSubscriber(h, o, listId, 'clicker@list.test');
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      ListID: listId,
      SubscriberID: subscriberId,
      Subject: 'Invoice',
      ContentType: 'html',
      HTMLContent: '<p><a href="https://shop.example/i?l={{ Subscriber:ListID }}">Invoice</a></p>',
      // The attachment is what made each click's read large: the whole stored content came back.
      Attachments: [{ filename: 'invoice.bin', content: Buffer.alloc(512 * 1024, 7).toString('base64'), type: 'application/octet-stream' }],
      TrackLinks: 'true',
      TrackOpens: 'false',
      From: { name: '', email: `billing@${s.domain}` },
      To: [{ name: '', email: 'clicker@list.test' }],
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === 'clicker@list.test'), 15000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((r) => r.to[0] === 'clicker@list.test')!.raw);
  const click = new URL([...String(mail.html).matchAll(/href="([^"]*\/t\/c\/[^"]*)"/g)][0][1]);
  const contentReads: string[] = [];
  const watch = (q: { sql: string }) => {
    if (/select [`"]?content[`"]? from [`"]?messages/i.test(q.sql)) contentReads.push(q.sql);
  };
  h.services.db.on('query', watch);
  try {
    const clicks = await Promise.all(Array.from({ length: 20 }, () => h.request('GET', click.pathname, { headers: { Host: click.host } })));
    expect(clicks.map((c) => [c.status, c.headers.location])).toEqual(clicks.map(() => [302, `https://shop.example/i?l=${listId}`]));
  } finally {
    h.services.db.off('query', watch);
  }
  expect(contentReads).toHaveLength(1);
});
