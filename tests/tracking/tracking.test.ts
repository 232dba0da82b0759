/**
 * Tracking end to end: a message sent through /api/v1/email reaches the SMTP sink with its links rewritten,
 * its pixel and (when enabled) its unsubscribe link and RFC 8058 headers; hits on those URLs through HTTP
 * record opened / clicked / unsubscribed events and suppress an unsubscribed address.
 */
import { simpleParser } from 'mailparser';
import { PIXEL } from '../../src/tracking/routes';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { composeHosts } from '../../src/domains/names';
import { Harness, senderSetup } from '../helpers/harness';
import { waitFor } from '../helpers/sink';

const BASE = 'http://track.postern.test';
/** TRACKING_BASE_URL's host: the click route redirects only there (or on the sending domain's own tracking host). */
const HOST = 'track.postern.test';
let rig: RelayRig;
let h: Harness;
let s: RelayRig['s'];

beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: BASE, MACHINE_HIT_SECONDS: '0' });
  ({ h, s } = rig);
});
afterAll(async () => {
  await rig.close();
});

const HTML =
  '<!DOCTYPE html>\n<html><head><title>T</title></head><body>\n' +
  '<p>Hello &amp; welcome. <a href="https://shop.example/item?a=1&amp;b=2" class="btn">Buy</a></p>\n' +
  '<p><a href="mailto:help@example.com">Mail</a> <a href="tel:+123">Call</a> <a href="#top">Top</a> <a href="/relative">Rel</a></p>\n' +
  '<p><a class="x no-link-track" href="https://untracked.example/">Raw</a> <A HREF=\'https://shop.example/item?a=1&amp;b=2\'>Again</A></p>\n' +
  '<p><a href="https://other.example/path">Other</a></p>\n' +
  '</body></html>\n';

async function sendAndReceive(extra: Record<string, unknown> = {}, to = `reader.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@recipient.test`) {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Tracking',
      ContentType: 'html',
      HTMLContent: HTML,
      From: { name: 'Shop', email: `shop@${s.domain}` },
      To: [{ name: 'Reader', email: to }],
      ...extra,
    },
  });
  expect(res.status).toBe(200);
  const id = res.body.MessageID as string;
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === to), 15000, 'the delivery');
  const raw = rig.sink.received.find((r) => r.to[0] === to)!.raw;
  return { id, to, raw, mail: await simpleParser(raw) };
}

const pathOf = (url: string) => url.slice(BASE.length);
const hrefs = (html: string) => [...html.matchAll(/href=["']([^"']*)["']/gi)].map((m) => m[1].replace(/&amp;/g, '&'));
const eventsOf = async (id: string, type?: string) =>
  (await h.services.db('events').where({ message_id: id }).orderBy('id'))
    .filter((e: { type: string }) => !type || e.type === type)
    .map((e: { type: string; data: string }) => ({ type: e.type, ...JSON.parse(e.data) }));

describe('link and open tracking', () => {
  let sent: Awaited<ReturnType<typeof sendAndReceive>>;
  beforeAll(async () => {
    sent = await sendAndReceive();
  });

  it('rewrites only absolute http(s) links, keeps every other byte, and adds the pixel before </body>', async () => {
    const html = sent.mail.html as string;
    const links = hrefs(html);
    const tracked = links.filter((l) => l.startsWith(`${BASE}/t/c/`));
    expect(tracked).toHaveLength(3); // Buy, Again (same target), Other
    expect(links).toEqual(expect.arrayContaining(['mailto:help@example.com', 'tel:+123', '#top', '/relative', 'https://untracked.example/']));
    // Same target, same index; different target, different index.
    const idx = tracked.map((l) => l.split('/').pop()!.split('.')[1]);
    expect(idx[0]).toBe(idx[1]);
    expect(idx[2]).not.toBe(idx[0]);
    // Tokens carry no address and no URL.
    for (const l of tracked) expect(l).not.toMatch(/shop|other|reader|recipient/);
    // Put the original hrefs back and drop the pixel: the rest is the HTML as sent.
    const pixel = html.match(/<img src="[^"]+\/t\/o\/[^"]+" [^>]*\/>/)![0];
    expect(html.indexOf(pixel)).toBe(html.indexOf('</body>') - pixel.length);
    let restored = html.replace(pixel, '');
    restored = restored.replace(/href="http:\/\/track\.postern\.test\/t\/c\/[^"]+"/, 'href="https://shop.example/item?a=1&amp;b=2"');
    restored = restored.replace(/HREF="http:\/\/track\.postern\.test\/t\/c\/[^"]+"/i, "HREF='https://shop.example/item?a=1&amp;b=2'");
    restored = restored.replace(/href="http:\/\/track\.postern\.test\/t\/c\/[^"]+"/, 'href="https://other.example/path"');
    expect(restored.replace(/\r\n/g, '\n').trim()).toBe(HTML.trim());
  });

  it('redirects a click to the original URL (302) and records clicked plus the implied first open, unique once', async () => {
    const link = hrefs(sent.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!;
    const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36';
    const first = await h.request('GET', pathOf(link), { headers: { Host: HOST, 'User-Agent': ua } });
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe('https://shop.example/item?a=1&b=2');
    expect(first.headers['cache-control']).toMatch(/no-store/);
    const again = await h.request('GET', pathOf(link), { headers: { Host: HOST, 'User-Agent': ua } });
    expect(again.status).toBe(302);
    const clicks = await eventsOf(sent.id, 'clicked');
    expect(clicks).toHaveLength(2);
    expect(clicks[0]).toMatchObject({ recipient: sent.to, url: 'https://shop.example/item?a=1&b=2', user_agent: ua, unique: true, machine: false });
    expect(clicks[1].unique).toBe(false);
    const opens = await eventsOf(sent.id, 'opened');
    expect(opens).toEqual([expect.objectContaining({ unique: true, implied_by_click: true })]);
  });

  it("redirects on TRACKING_BASE_URL's host and the sending domain's own, never on the api's or another tenant's", async () => {
    const link = pathOf(hrefs(sent.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!);
    const hostOf = async (domainId: number) =>
      composeHosts(await h.services.db('sender_domains').where({ id: domainId }).first(), h.services.config).trackingHost;
    const other = await senderSetup(h);
    const before = (await eventsOf(sent.id, 'clicked')).length;
    // The api and console's own name, and another tenant's branded tracking host (its CNAME points here too).
    for (const host of ['127.0.0.1', 'localhost', await hostOf(other.domainId)]) {
      const r = await h.request('GET', link, { headers: { Host: host } });
      expect({ host, status: r.status, location: r.headers.location }).toEqual({ host, status: 404, location: undefined });
    }
    expect(await eventsOf(sent.id, 'clicked')).toHaveLength(before);
    // The sending domain's own tracking host still serves it (links issued before TRACKING_BASE_URL was set).
    const own = await h.request('GET', link, { headers: { Host: await hostOf(s.domainId) } });
    expect(own.status).toBe(302);
    expect(own.headers.location).toBe('https://shop.example/item?a=1&b=2');
  });

  it('serves the pixel as an uncacheable GIF and records opens, the first unique, machine hits flagged', async () => {
    const pixelUrl = (sent.mail.html as string).match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1];
    const res = await h.request('GET', pathOf(pixelUrl), { headers: { 'User-Agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.headers['cache-control']).toMatch(/no-cache/);
    expect(Buffer.from(res.body)).toEqual(PIXEL);
    await h.request('GET', pathOf(pixelUrl), { headers: { 'User-Agent': 'Mozilla/5.0 (compatible; Barracuda Sentinel)' } });
    await h.request('GET', pathOf(pixelUrl), {
      headers: { 'User-Agent': 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)' },
    });
    const opens = await eventsOf(sent.id, 'opened');
    // The first open was implied by the click above; these three are repeats.
    expect(opens.slice(1).map((o) => [o.unique, o.machine, o.proxy])).toEqual([
      [false, false, null],
      [false, true, null],
      [false, false, 'gmail'],
    ]);
    expect((await h.services.db('deliveries').where({ message_id: sent.id }).first()).first_opened_at).not.toBeNull();
  });

  it('records at most 20 repeat hits a minute per delivery past its first open and click, and serves every one', async () => {
    const mine = await sendAndReceive();
    const pixel = pathOf((mine.mail.html as string).match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1]);
    const link = pathOf(hrefs(mine.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!);
    for (let i = 0; i < 30; i++) expect((await h.request('GET', pixel)).status).toBe(200);
    // The budget is spent by the repeat opens; the first click is recorded all the same, the repeats are not.
    for (let i = 0; i < 5; i++) expect((await h.request('GET', link, { headers: { Host: HOST } })).headers.location).toBe('https://shop.example/item?a=1&b=2');
    const opens = await eventsOf(mine.id, 'opened');
    expect(opens.map((o) => o.unique)).toEqual([true, ...Array(20).fill(false)]);
    expect((await eventsOf(mine.id, 'clicked')).map((c) => c.unique)).toEqual([true]);
  });

  it('keeps to the budget for hits that arrive together: one first open and click, then 20 repeats', async () => {
    const mine = await sendAndReceive();
    const pixel = pathOf((mine.mail.html as string).match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1]);
    const link = pathOf(hrefs(mine.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!);
    // Every request reads the delivery as never opened before the first one commits.
    const opens = await Promise.all(Array.from({ length: 40 }, () => h.request('GET', pixel)));
    expect(opens.every((r) => r.status === 200)).toBe(true);
    const openEvents = await eventsOf(mine.id, 'opened');
    expect(openEvents.filter((o) => o.unique)).toHaveLength(1);
    expect(openEvents.length).toBeLessThanOrEqual(21);
    const clicks = await Promise.all(Array.from({ length: 10 }, () => h.request('GET', link, { headers: { Host: HOST } })));
    expect(clicks.every((r) => r.status === 302)).toBe(true);
    // The budget went to the opens: the first click is recorded, none of the clicks that came with it.
    expect((await eventsOf(mine.id, 'clicked')).map((c) => c.unique)).toEqual([true]);
  });

  it('answers HEAD as GET (the pixel, the redirect) and records nothing: a link scanner is not a reader', async () => {
    const mine = await sendAndReceive();
    const pixel = pathOf((mine.mail.html as string).match(/<img src="([^"]+\/t\/o\/[^"]+)"/)![1]);
    const link = pathOf(hrefs(mine.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!);
    expect((await h.request('HEAD', pixel)).status).toBe(200);
    const head = await h.request('HEAD', link, { headers: { Host: HOST } });
    expect(head.status).toBe(302);
    expect(head.headers.location).toBe('https://shop.example/item?a=1&b=2');
    expect(await eventsOf(mine.id, 'opened')).toEqual([]);
    expect(await eventsOf(mine.id, 'clicked')).toEqual([]);
    expect((await h.services.db('deliveries').where({ message_id: mine.id }).first()).first_opened_at).toBeNull();
  });

  it('never redirects or records for a forged, altered or foreign token', async () => {
    const link = hrefs(sent.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!;
    const [trackId, idx, sig] = link.split('/').pop()!.split('.');
    const before = (await eventsOf(sent.id)).length;
    // The altered signature changes its last character (to one it is not: a fixed 'A' left 1 in 64 tokens unaltered).
    const altered = `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`${trackId}.${Number(idx) + 1}.${sig}`, `${trackId}.${idx}.${altered}`, `${trackId}.${sig}`, 'x', `${trackId}.99.${sig}`]) {
      const res = await h.request('GET', `/t/c/${bad}`);
      expect(res.status).toBe(404);
      expect(res.headers.location).toBeUndefined();
    }
    // A click token is not an open token.
    const asOpen = await h.request('GET', `/t/o/${trackId}.${sig}.gif`);
    expect(asOpen.status).toBe(200);
    expect((await eventsOf(sent.id)).length).toBe(before);
  });

  it('refuses other methods with 405', async () => {
    const link = hrefs(sent.mail.html as string).find((l) => l.startsWith(`${BASE}/t/c/`))!;
    expect((await h.request('PUT', pathOf(link))).status).toBe(405);
  });
});

describe('precedence: the message flags win over the domain options', () => {
  it('TrackLinks=false and TrackOpens=false leave the HTML as sent', async () => {
    const sent = await sendAndReceive({ TrackLinks: 'false', TrackOpens: 'false' });
    expect((sent.mail.html as string).replace(/\r\n/g, '\n').trim()).toBe(HTML.trim());
    const d = await h.services.db('deliveries').where({ message_id: sent.id }).first();
    expect(d.track_id).toBeNull();
  });

  it('a domain with tracking off tracks nothing unless the message asks', async () => {
    const off = await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, LinkTracking: false, OpenTracking: false });
    expect(off.Success).toBe(true);
    try {
      const plain = await sendAndReceive();
      expect(hrefs(plain.mail.html as string).some((l) => l.startsWith(BASE))).toBe(false);
      const asked = await sendAndReceive({ TrackLinks: 'true' });
      expect(hrefs(asked.mail.html as string).filter((l) => l.startsWith(`${BASE}/t/c/`))).toHaveLength(3);
      expect(asked.mail.html).not.toMatch(/\/t\/o\//);
    } finally {
      await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, LinkTracking: true, OpenTracking: true });
    }
  });

  it('plain-text mail is sent untouched (no tracking id)', async () => {
    const sent = await sendAndReceive({ ContentType: 'plain', HTMLContent: undefined, PlainContent: 'See https://shop.example/ now' });
    expect(sent.mail.text?.trim()).toBe('See https://shop.example/ now');
    expect((await h.services.db('deliveries').where({ message_id: sent.id }).first()).track_id).toBeNull();
  });
});

/** The message's header block, unfolded. */
const headBlock = (raw: Buffer) =>
  raw
    .toString()
    .split('\r\n\r\n')[0]
    .replace(/\r\n[ \t]+/g, ' ');
const CLIENT_UNSUBSCRIBE = {
  'List-Unsubscribe': '<https://app.example/u/77>, <mailto:leave@app.example>',
  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
};

it("carries a client's own List-Unsubscribe and one-click header as given when the domain adds none", async () => {
  const sent = await sendAndReceive({ Headers: CLIENT_UNSUBSCRIBE });
  const head = headBlock(sent.raw);
  expect(head.match(/^List-Unsubscribe: .*$/gm)).toEqual(['List-Unsubscribe: <https://app.example/u/77>, <mailto:leave@app.example>']);
  expect(head.match(/^List-Unsubscribe-Post: .*$/gm)).toEqual(['List-Unsubscribe-Post: List-Unsubscribe=One-Click']);
});

describe('unsubscribe', () => {
  let sent: Awaited<ReturnType<typeof sendAndReceive>>;
  let unsubUrl: string;
  beforeAll(async () => {
    await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, UnsubscribeLink: true });
    sent = await sendAndReceive({ PlainContent: 'Hello there' });
  });
  afterAll(async () => {
    await h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, UnsubscribeLink: false });
  });

  it('carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) and a link in both bodies', async () => {
    const head = sent.raw
      .toString()
      .split('\r\n\r\n')[0]
      .replace(/\r\n[ \t]+/g, ' '); // unfold
    const header = head.match(/^List-Unsubscribe: <([^>]+)>/m);
    expect(header).not.toBeNull();
    unsubUrl = header![1];
    expect(unsubUrl.startsWith(`${BASE}/t/u/`)).toBe(true);
    expect(head).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/m);
    expect(hrefs(sent.mail.html as string)).toContain(unsubUrl);
    expect(sent.mail.text).toContain(`Unsubscribe: ${unsubUrl}`);
  });

  it("replaces a client's own List-Unsubscribe with its own: one of each header, Postern's", async () => {
    const mine = await sendAndReceive({ Headers: CLIENT_UNSUBSCRIBE });
    const head = headBlock(mine.raw);
    const lists = head.match(/^List-Unsubscribe: .*$/gm)!;
    expect(lists).toHaveLength(1);
    expect(lists[0]).toMatch(new RegExp(`^List-Unsubscribe: <${BASE}/t/u/`));
    expect(head.match(/^List-Unsubscribe-Post: .*$/gm)).toEqual(['List-Unsubscribe-Post: List-Unsubscribe=One-Click']);
  });

  it('GET shows a confirmation page and changes nothing; POST one-click unsubscribes once and suppresses the address', async () => {
    const page = await h.request('GET', pathOf(unsubUrl));
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post">');
    expect(page.text).toContain(sent.to);
    // Never framed (the button), never sniffed, no Referer, nothing loaded but its own inline style.
    expect(page.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': expect.stringContaining("frame-ancestors 'none'"),
    });
    expect(await h.services.db('suppressions').where({ domain_id: s.domainId, email: sent.to })).toHaveLength(0);

    const post = await h.request('POST', pathOf(unsubUrl), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(post.status).toBe(200);
    const again = await h.request('POST', pathOf(unsubUrl), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(again.status).toBe(200);
    const rows = await h.services.db('suppressions').where({ domain_id: s.domainId, email: sent.to });
    expect(rows).toHaveLength(1);
    expect(rows[0].reason).toBe('unsubscribe');
    const events = await eventsOf(sent.id, 'unsubscribed');
    expect(events).toEqual([expect.objectContaining({ recipient: sent.to, one_click: true })]);

    const next = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'Again',
        ContentType: 'plain',
        PlainContent: 'x',
        From: { name: 'Shop', email: `shop@${s.domain}` },
        To: [{ name: '', email: sent.to }],
      },
    });
    expect(next.body.Errors[0].Code).toBe(14);
  });

  it('records one unsubscribe for one-click POSTs that arrive together (a mail client and its retry)', async () => {
    const mail = await sendAndReceive();
    const url = headBlock(mail.raw).match(/^List-Unsubscribe: <([^>]+)>/m)![1];
    const posts = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.request('POST', pathOf(url), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' }),
      ),
    );
    expect(posts.map((p) => p.status)).toEqual(Array(8).fill(200));
    expect(await h.services.db('suppressions').where({ domain_id: s.domainId, email: mail.to })).toHaveLength(1);
    expect(await eventsOf(mail.id, 'unsubscribed')).toHaveLength(1);
  });

  it('answers 404 for an unknown unsubscribe token', async () => {
    const bad = pathOf(unsubUrl).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    expect((await h.request('POST', bad)).status).toBe(404);
    expect((await h.request('GET', bad)).status).toBe(404);
  });
});
