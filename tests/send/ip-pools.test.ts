/**
 * Sending IP pools (SENDING_IP_POOLS, DEFAULT_IP_POOL) in DELIVERY_MODE=mx: the admin assigns a domain its pool over
 * /api.php, and its mail leaves from the pool's address with that address's EHLO name, as the receiving server
 * (a sink on 127.0.0.1, found through a real DNS server) sees it. The whole 127/8 is local on Linux, so 127.0.0.2
 * and 127.0.0.3 can be bound as source addresses.
 */
import crypto from 'node:crypto';
import { DeliveryGateway, startDeliveryGateway, stopDeliveryGateways } from '../helpers/delivery-gateway';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { capturingLogger } from '../helpers/log-lines';
import { metric } from '../helpers/prom';
import { QUICK_RETRIES } from '../helpers/rig';
import { senderSetup } from '../helpers/harness';
import { Received, Sink, smtpError, startSink, waitFor } from '../helpers/sink';

const POOLS = {
  dedicated: [{ address: '127.0.0.2', hostname: 'mta2.postern.test' }],
  pair: [
    { address: '127.0.0.2', hostname: 'mta2.postern.test' },
    { address: '127.0.0.3', hostname: 'mta3.postern.test' },
  ],
  v6only: [{ address: '::1', hostname: 'mta6.postern.test' }],
};

let dns: DnsZone;
let sink: Sink;
let g: DeliveryGateway;
const gateways: DeliveryGateway[] = [];
const { logger, lines } = capturingLogger('info');

/** A recipient domain whose one MX host is the sink on 127.0.0.1. */
function mxDomain(label: string): string {
  const domain = `${label}-${crypto.randomBytes(4).toString('hex')}.example.net`;
  dns.zone.set(domain, { mx: [{ exchange: `mx.${domain}`, priority: 10 }] });
  dns.zone.set(`mx.${domain}`, { a: ['127.0.0.1'] });
  return domain;
}

async function gateway(settings: Record<string, string>): Promise<DeliveryGateway> {
  const gw = await startDeliveryGateway(
    {
      DELIVERY_MODE: 'mx',
      MX_PORT: String(sink.port),
      DNS_SERVERS: `127.0.0.1:${dns.port}`,
      DNS_TIMEOUT_MS: '1000',
      MX_ALLOW_PRIVATE: '1', // every MX here is on loopback
      SENDING_IP_POOLS: JSON.stringify(POOLS),
      DOMAIN_CACHE_MS: '0', // the worker reads each domain row afresh: a pool the admin changes applies at once
      ...QUICK_RETRIES,
      ...settings,
    },
    { logger },
  );
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  dns = await startDnsZone();
  sink = await startSink();
  g = await gateway({});
});
afterAll(async () => {
  await stopDeliveryGateways(gateways);
  await sink.close();
  await dns.close();
});

/** Sends one message with the sender key `key` of `domain`; answers its MessageID. */
async function send(gw: DeliveryGateway, s: { key: string; domain: string }, to: string[]): Promise<string> {
  const res = await gw.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Pooled',
      ContentType: 'plain',
      PlainContent: 'Hello.',
      From: { name: '', email: `app@${s.domain}` },
      To: to.map((email) => ({ email })),
    },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

/** What the sink received for `to`, once it came. */
async function arrived(to: string): Promise<Received> {
  await waitFor(() => sink.received.some((m) => m.to.includes(to)), 15_000, `mail for ${to}`);
  return sink.received.find((m) => m.to.includes(to))!;
}

const setPool = (gw: DeliveryGateway, params: Record<string, unknown>) =>
  gw.h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: gw.h.adminKey, ...params });
const poolOf = async (gw: DeliveryGateway, domainId: number) =>
  (await gw.h.call({ Command: 'emailgateway.getalldomains', AdminAPIKey: gw.h.adminKey })).Domains.find((d: { DomainID: number }) => d.DomainID === domainId)
    .IPPool;

describe('sending IP pools (DELIVERY_MODE=mx)', () => {
  it("sends a pooled domain's mail from its pool's address with its EHLO name, and other domains' as before", async () => {
    expect(await setPool(g, { DomainID: g.s.domainId, IPPool: 'Dedicated' })).toMatchObject({ Success: true, Changed: true, IPPool: 'dedicated' });
    expect(await poolOf(g, g.s.domainId)).toBe('dedicated');
    const plain = await senderSetup(g.h);
    expect(await poolOf(g, plain.domainId)).toBe('');

    // One MX host for both: a session opened from 127.0.0.2 must not carry the unpooled domain's mail.
    const rdomain = mxDomain('shared');
    await send(g, g.s, [`pooled@${rdomain}`]);
    expect(await arrived(`pooled@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.2', ehlo: 'mta2.postern.test' });
    await send(g, plain, [`plain@${rdomain}`]);
    expect(await arrived(`plain@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.1', ehlo: 'mx.postern.test' });

    // Counted once the 250 reaches the worker, which is after the sink has the mail: wait for both counts.
    const sentFrom = (text: string, pool: string, source: string) => metric(text, 'postern_mx_sends_by_source_total', { pool, source, class: '2xx' });
    await waitFor(
      async () => {
        const text = (await g.h.request('GET', '/metrics')).text;
        return sentFrom(text, 'dedicated', '127.0.0.2') >= 1 && sentFrom(text, '', '') >= 1;
      },
      10_000,
      'both sends counted by source',
    );
  });

  it('lets the admin clear the pool (empty IPPool): the domain sends from the OS default again', async () => {
    const s = await senderSetup(g.h);
    expect(await setPool(g, { DomainID: s.domainId, IPPool: 'dedicated' })).toMatchObject({ Success: true, Changed: true });
    expect(await setPool(g, { DomainID: s.domainId, IPPool: 'dedicated' })).toMatchObject({ Success: true, Changed: false });
    const rdomain = mxDomain('cleared');
    await send(g, s, [`before@${rdomain}`]);
    expect(await arrived(`before@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.2' });

    expect(await setPool(g, { DomainID: s.domainId, IPPool: '' })).toMatchObject({ Success: true, Changed: true, IPPool: '', Status: 'Enabled' });
    expect(await poolOf(g, s.domainId)).toBe('');
    await send(g, s, [`after@${rdomain}`]);
    expect(await arrived(`after@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.1', ehlo: 'mx.postern.test' });
  });

  it('refuses a tenant: its session cannot call the admin command, and updatedomain ignores IPPool', async () => {
    const s = await senderSetup(g.h);
    const asTenant = await g.h.call({ Command: 'emailgateway.setdomainstatus', SessionID: s.sessionId, DomainID: s.domainId, IPPool: 'dedicated' });
    expect(asTenant).toMatchObject({ Success: false, ErrorCode: 99998 });
    await g.h.call({ Command: 'emailgateway.updatedomain', SessionID: s.sessionId, DomainID: s.domainId, IPPool: 'dedicated' });
    expect(await poolOf(g, s.domainId)).toBe('');
  });

  it('refuses an unknown pool (5, naming the configured ones) and a call with neither Status nor IPPool ([3])', async () => {
    const unknown = await setPool(g, { DomainID: g.s.domainId, IPPool: 'nosuch' });
    expect(unknown).toMatchObject({ Success: false, ErrorCode: 5 });
    expect(unknown.ErrorText).toMatch(/"nosuch".*configured: dedicated, pair, v6only/);
    expect(await setPool(g, { DomainID: g.s.domainId, IPPool: ['dedicated'] })).toMatchObject({ Success: false, ErrorCode: [5] });
    expect(await setPool(g, { DomainID: g.s.domainId })).toMatchObject({ Success: false, ErrorCode: [3] });
    expect(await poolOf(g, g.s.domainId)).toBe('dedicated');
  });

  it("spreads a pool's mail over its addresses, and a retry goes from the next one", async () => {
    const s = await senderSetup(g.h);
    expect(await setPool(g, { DomainID: s.domainId, IPPool: 'pair' })).toMatchObject({ Success: true });
    const rdomain = mxDomain('spread');
    const to = [0, 1, 2, 3].map((i) => `r${i}@${rdomain}`);
    await send(g, s, to);
    const got = await Promise.all(to.map(arrived));
    expect(new Set(got.map((m) => m.remoteAddress))).toEqual(new Set(['127.0.0.2', '127.0.0.3']));
    for (const m of got) expect(m.ehlo).toBe(m.remoteAddress === '127.0.0.2' ? 'mta2.postern.test' : 'mta3.postern.test');

    // Deferred once: the first attempt's address (in its log line) is not the one the retry delivers from.
    const later = `later@${mxDomain('retry')}`;
    let refusals = 0;
    sink.onRcpt = (a) => (a === later && refusals++ === 0 ? smtpError(451, '4.7.1 Try again later') : undefined);
    try {
      const id = await send(g, s, [later]);
      const delivered = await arrived(later);
      const deferred = lines.map((l) => JSON.parse(l)).find((l) => l.messageId === id && l.outcome === 'deferred');
      expect(deferred.source).toMatch(/^127\.0\.0\.[23]$/);
      expect(delivered.remoteAddress).toMatch(/^127\.0\.0\.[23]$/);
      expect(delivered.remoteAddress).not.toBe(deferred.source);
    } finally {
      sink.onRcpt = undefined;
    }
  });

  it('passes over MX addresses of a family its pool has no address of, and says so when nothing was tried', async () => {
    const s = await senderSetup(g.h);
    expect(await setPool(g, { DomainID: s.domainId, IPPool: 'v6only' })).toMatchObject({ Success: true });
    const rdomain = mxDomain('v4mx');
    const id = await send(g, s, [`reader@${rdomain}`]);
    const row = () => g.h.services.db('deliveries').where({ message_id: id }).first();
    await waitFor(async () => Number((await row())?.attempts) >= 1, 15_000, 'an attempt');
    expect(await row()).toMatchObject({
      status: 'deferred',
      last_reply: `no MX address of ${rdomain} could be tried: IP pool "v6only" has no IPv4 address; nothing was sent`,
    });
    expect(sink.received.filter((m) => m.to.includes(`reader@${rdomain}`))).toEqual([]);
  });

  it('holds back the mail of a domain whose pool left SENDING_IP_POOLS, rather than send it from another address', async () => {
    const s = await senderSetup(g.h);
    // As if the operator took the pool out of the configuration after the admin had assigned it.
    await g.h.services.db('sender_domains').where({ id: s.domainId }).update({ ip_pool: 'retired' });
    const rdomain = mxDomain('retired');
    const id = await send(g, s, [`reader@${rdomain}`]);
    const row = () => g.h.services.db('deliveries').where({ message_id: id }).first();
    await waitFor(async () => Number((await row())?.attempts) >= 1, 15_000, 'an attempt');
    expect(await row()).toMatchObject({
      status: 'deferred',
      last_reply: 'IP pool "retired" of the sender domain is not in SENDING_IP_POOLS; nothing was sent',
    });
    expect(sink.received.filter((m) => m.to.includes(`reader@${rdomain}`))).toEqual([]);
  });

  it('sends every domain without a pool of its own from DEFAULT_IP_POOL', async () => {
    const gw = await gateway({ DEFAULT_IP_POOL: 'dedicated' });
    const rdomain = mxDomain('default');
    await send(gw, gw.s, [`default@${rdomain}`]);
    expect(await arrived(`default@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.2', ehlo: 'mta2.postern.test' });
    // A pool of its own, then cleared: back to the default pool, not to the OS default.
    expect(await setPool(gw, { DomainID: gw.s.domainId, IPPool: 'v6only' })).toMatchObject({ Success: true, Changed: true });
    expect(await setPool(gw, { DomainID: gw.s.domainId, IPPool: '' })).toMatchObject({ Success: true, Changed: true });
    await send(gw, gw.s, [`cleared@${rdomain}`]);
    expect(await arrived(`cleared@${rdomain}`)).toMatchObject({ remoteAddress: '127.0.0.2', ehlo: 'mta2.postern.test' });
  });
});
