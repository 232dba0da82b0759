import crypto from 'node:crypto';
import { decrypt } from '../../src/auth/secrets';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { accountKey, addDomain, Harness, createUser, senderSetup, uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { resolverFor, vetWebhookUrl } from '../../src/webhooks/url-guard';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver, verifyHit } from './receiver';

// The SSRF guard is on in this file (WEBHOOK_ALLOW_PRIVATE unset), except where a test turns it on in the running config.

type Sender = Awaited<ReturnType<typeof senderSetup>>;
/** A real DNS server: A records the tests publish, NXDOMAIN for every other name. */
let dns: DnsZone;
let rig: RelayRig;
let h: Harness;
let s: Sender;
let rx: Receiver;
let worker: WebhookWorker;

const PUBLIC_IP = '93.184.215.14';
const name = (label: string) => `${label}-${crypto.randomBytes(4).toString('hex')}.example.net`;

beforeAll(async () => {
  dns = await startDnsZone({ ttl: 1 });
  rx = await startReceiver();
  rig = await startRelayRig({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '200' });
  h = rig.h;
  s = rig.s;
  worker = startWebhookWorker(h.services);
});
afterAll(async () => {
  await worker.stop();
  await rig.close();
  await rx.stop();
  await dns.close();
});

const cmd = (command: string, who: { sessionId: string }, params: Record<string, unknown> = {}) =>
  h.call({ Command: `emailgateway.${command}`, SessionID: who.sessionId, ...params });
const v1 = {
  get: (key: string) => h.request('GET', '/api/v1/webhooks', { headers: { Authorization: `Bearer ${key}` } }),
  post: (key: string, body: Record<string, unknown>) => h.request('POST', '/api/v1/webhooks', { headers: { Authorization: `Bearer ${key}` }, body }),
  del: (key: string, body: Record<string, unknown>) => h.request('DELETE', '/api/v1/webhooks', { headers: { Authorization: `Bearer ${key}` }, body }),
};

describe('emailgateway.addwebhook / getwebhooks / deletewebhook', () => {
  it('adds webhooks in either vocabulary and lists them with the private names, the state and the signing key', async () => {
    const u = await senderSetup(h);
    const host = name('hooks');
    dns.zone.set(host, { a: [PUBLIC_IP] });
    const a = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `https://${host}/events` });
    expect(a).toEqual({ Success: true, ErrorCode: 0, NewWebhookID: expect.any(Number) });
    const b = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'Bounced', WebhookURL: `https://${PUBLIC_IP}/b?x=1` });
    expect(b.NewWebhookID).not.toBe(a.NewWebhookID);

    const list = await cmd('getwebhooks', u, { DomainID: u.domainId });
    expect(list).toEqual({
      Success: true,
      ErrorCode: 0,
      SigningKey: expect.stringMatching(/^[0-9A-F]{64}$/),
      SigningSecret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      Webhooks: [
        {
          WebhookID: a.NewWebhookID,
          Event: 'delivery',
          WebhookURL: `https://${host}/events`,
          Status: 'Enabled',
          ConsecutiveFailures: 0,
          DisabledReason: null,
          DisabledAt: null,
          LastSuccessAt: null,
          LastFailureAt: null,
          CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
        },
        expect.objectContaining({ WebhookID: b.NewWebhookID, Event: 'bounce', WebhookURL: `https://${PUBLIC_IP}/b?x=1` }),
      ],
    });
    expect(Buffer.from(list.SigningSecret.slice(6), 'base64').toString('ascii')).toBe(list.SigningKey);
    // Stable across reads, and encrypted at rest.
    expect((await cmd('getwebhooks', u, { DomainID: u.domainId })).SigningKey).toBe(list.SigningKey);
    const row = await h.services.db('webhook_signing_keys').where({ domain_id: u.domainId }).first();
    expect(row.key_enc).not.toContain(list.SigningKey);
    expect(decrypt(row.key_enc, h.services.config.encryptionKey!)).toBe(list.SigningKey);

    // The public door shows the same webhooks with the stored names, and (as Octeth's `{"Webhooks":[…]}`) not the
    // key: a sender key sends mail, it must not be enough to sign webhook calls.
    const pub = await v1.get(u.key);
    expect(pub.status).toBe(200);
    expect(Object.keys(pub.body)).toEqual(['Webhooks']);
    expect(pub.body.Webhooks.map((w: any) => [w.WebhookID, w.Event])).toEqual([
      [a.NewWebhookID, 'delivered'],
      [b.NewWebhookID, 'bounced'],
    ]);
    const legacyDoor = await h.call({ Command: 'emailgateway.getwebhooks.public', SenderAPIKey: u.key });
    expect(legacyDoor).toMatchObject({ Success: true, Webhooks: pub.body.Webhooks });
    for (const body of [pub.text, JSON.stringify(legacyDoor)]) {
      expect(body).not.toContain(list.SigningKey);
      expect(body).not.toContain(list.SigningSecret);
    }
  });

  it('answers the same id for the same event and URL instead of a duplicate', async () => {
    const u = await senderSetup(h);
    const first = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'open', WebhookURL: `https://${PUBLIC_IP}/o` });
    const second = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'opened', WebhookURL: `https://${PUBLIC_IP}/o` });
    expect(second.NewWebhookID).toBe(first.NewWebhookID);
    expect((await cmd('getwebhooks', u, { DomainID: u.domainId })).Webhooks).toHaveLength(1);
  });

  it("answers the contract codes for missing and invalid parameters and for another user's domain", async () => {
    expect(await cmd('addwebhook', s, {})).toMatchObject({ Success: false, ErrorCode: [1, 2, 5] });
    expect(await cmd('addwebhook', s, { DomainID: s.domainId, Event: 'sent', WebhookURL: `https://${PUBLIC_IP}/` })).toMatchObject({
      Success: false,
      ErrorCode: [3],
    });
    expect(await cmd('addwebhook', s, { DomainID: s.domainId, Event: 'queued', WebhookURL: `https://${PUBLIC_IP}/` })).toMatchObject({
      Success: false,
      ErrorCode: [3],
    });
    const other = await senderSetup(h);
    expect(await cmd('addwebhook', other, { DomainID: s.domainId, Event: 'click', WebhookURL: `https://${PUBLIC_IP}/` })).toMatchObject({
      Success: false,
      ErrorCode: 4,
    });
    expect(await cmd('addwebhook', s, { DomainID: 999999, Event: 'click', WebhookURL: `https://${PUBLIC_IP}/` })).toMatchObject({
      Success: false,
      ErrorCode: 4,
    });

    expect(await cmd('getwebhooks', s, {})).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await cmd('getwebhooks', other, { DomainID: s.domainId })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await h.call({ Command: 'emailgateway.getwebhooks', DomainID: s.domainId })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });

  it('refuses URLs that are not http(s) with code 6 and ErrorMessage, as Octeth does', async () => {
    for (const url of [
      'ftp://example.com/x',
      'gopher://example.com/',
      'javascript:alert(1)',
      'not a url',
      `https://user:pass@${PUBLIC_IP}/`,
      'file:///etc/passwd',
    ]) {
      const r = await cmd('addwebhook', s, { DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
      expect({ url, r }).toEqual({ url, r: expect.objectContaining({ Success: false, ErrorCode: 6, ErrorMessage: expect.any(String) }) });
    }
  });

  it('refuses loopback, private, link-local, metadata and local names with code 7 (SSRF guard)', async () => {
    const loopName = name('loop');
    dns.zone.set(loopName, { a: ['127.0.0.1'] });
    const mixed = name('mixed');
    dns.zone.set(mixed, { a: [PUBLIC_IP, '10.0.0.7'] });
    const refused = [
      'http://127.0.0.1/hook',
      'http://127.1.2.3:8080/hook',
      'http://2130706433/hook',
      'http://0x7f.0.0.1/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::7f00:1]/hook',
      'http://[::a00:5]/hook',
      'http://localhost:3000/hook',
      'http://api.localhost/hook',
      'http://0.0.0.0/hook',
      'http://10.1.2.3/hook',
      'http://172.16.5.4/hook',
      'http://192.168.1.1/hook',
      'http://100.64.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://[fe80::1]/hook',
      'http://[fc00::1]/hook',
      'http://224.0.0.1/hook',
      'http://printer.local/hook',
      `http://${loopName}/hook`,
      `https://${mixed}/hook`,
      `https://${name('nxdomain')}/hook`,
    ];
    for (const url of refused) {
      const r = await cmd('addwebhook', s, { DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
      expect({ url, r }).toEqual({ url, r: expect.objectContaining({ Success: false, ErrorCode: 7 }) });
    }
    const pub = await v1.post(s.key, { Event: 'delivered', WebhookURL: `http://${loopName}/hook` });
    expect(pub.status).toBe(200);
    expect(pub.body.Errors[0].Code).toBe(7);
    expect((await cmd('getwebhooks', s, { DomainID: s.domainId })).Webhooks).toEqual([]);
  });

  it('the guard lets private addresses through with allowPrivate, but never metadata addresses', async () => {
    const resolve = async () => [{ address: '127.0.0.1', family: 4 as const }];
    expect(await vetWebhookUrl('http://127.0.0.1:9/x', { allowPrivate: true, resolve })).toMatchObject({ ok: true });
    expect(await vetWebhookUrl('http://internal-service/x', { allowPrivate: true, resolve })).toMatchObject({
      ok: true,
      addresses: [{ address: '127.0.0.1' }],
    });
    expect(await vetWebhookUrl('http://internal-service/x', { allowPrivate: false, resolve })).toMatchObject({ ok: false, problem: { kind: 'host' } });
    expect(await vetWebhookUrl('http://169.254.169.254/', { allowPrivate: true, resolve })).toMatchObject({ ok: false, problem: { kind: 'host' } });
    // The metadata address carried inside NAT64, 6to4 and Teredo addresses is refused too; an ordinary NAT64 one is not.
    for (const carried of [
      '64:ff9b::a9fe:a9fe',
      '64:ff9b::169.254.169.254',
      '2002:a9fe:a9fe::1',
      '2001:0:4136:e378:8000:63bf:5601:5601',
      '::ffff:0:a9fe:a9fe',
    ]) {
      const via = async () => [{ address: carried, family: 6 as const }];
      expect({ carried, v: await vetWebhookUrl('http://x.example/', { allowPrivate: true, resolve: via }) }).toMatchObject({
        carried,
        v: { ok: false, problem: { kind: 'host' } },
      });
    }
    expect(
      await vetWebhookUrl('http://x.example/', { allowPrivate: true, resolve: async () => [{ address: '64:ff9b::c000:201', family: 6 as const }] }),
    ).toMatchObject({
      ok: true,
    });
    expect(await vetWebhookUrl('http://metadata.google.internal/', { allowPrivate: true, resolve })).toMatchObject({ ok: false, problem: { kind: 'host' } });
    // Azure's WireServer is a public address and Oracle's legacy metadata address a special one: refused either way.
    for (const agent of ['168.63.129.16', '192.0.0.192', 'fd20:ce::254'])
      for (const allowPrivate of [false, true])
        expect({
          agent,
          allowPrivate,
          v: await vetWebhookUrl(`http://${agent.includes(':') ? `[${agent}]` : agent}/`, { allowPrivate, resolve }),
        }).toMatchObject({
          v: { ok: false, problem: { kind: 'host', message: `Webhook URL host is not allowed: ${agent} is a cloud metadata address` } },
        });
    expect(
      await vetWebhookUrl('http://x.example/', { allowPrivate: true, resolve: async () => [{ address: 'fd00:ec2::254', family: 6 as const }] }),
    ).toMatchObject({ ok: false });
  });

  it("answers a host whose system lookup never returns as not resolving, within the resolver's deadline", async () => {
    // getaddrinfo against servers that never answer, stood in for: the system's lookup cannot be pointed at a
    // loopback DNS server without changing the machine's resolver configuration.
    const resolve = resolverFor({ dnsServers: [], dnsTimeoutMs: 100 }, () => new Promise(() => undefined));
    const started = Date.now();
    expect(await vetWebhookUrl('https://slow.example/x', { allowPrivate: false, resolve })).toEqual({
      ok: false,
      problem: {
        kind: 'host',
        message: 'Webhook URL host is not allowed: slow.example does not resolve to a public address (it needs a public DNS A or AAAA record)',
        detail: 'does not resolve (ETIMEOUT)',
      },
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    const found = resolverFor({ dnsServers: [], dnsTimeoutMs: 100 }, async () => [{ address: '192.0.2.1', family: 4 }]);
    expect(await found('fine.example')).toEqual([{ address: '192.0.2.1', family: 4 }]);
  });

  it("deletes a webhook; answers 1/2, 3 and 4 for missing ids, another user's domain and an unknown webhook", async () => {
    const u = await senderSetup(h);
    const { NewWebhookID } = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'complaint', WebhookURL: `https://${PUBLIC_IP}/c` });
    const other = await senderSetup(h);
    const othersHook = await cmd('addwebhook', other, { DomainID: other.domainId, Event: 'complaint', WebhookURL: `https://${PUBLIC_IP}/c` });
    expect(await cmd('deletewebhook', u, {})).toMatchObject({ Success: false, ErrorCode: [1, 2] });
    expect(await cmd('deletewebhook', other, { DomainID: u.domainId, WebhookID: NewWebhookID })).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(await cmd('deletewebhook', u, { DomainID: u.domainId, WebhookID: othersHook.NewWebhookID })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect(await cmd('deletewebhook', u, { DomainID: u.domainId, WebhookID: NewWebhookID })).toEqual({ Success: true, ErrorCode: 0 });
    expect(await cmd('deletewebhook', u, { DomainID: u.domainId, WebhookID: NewWebhookID })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect((await cmd('getwebhooks', u, { DomainID: u.domainId })).Webhooks).toEqual([]);
    expect((await cmd('getwebhooks', other, { DomainID: other.domainId })).Webhooks).toHaveLength(1);
  });

  it('deleting the domain deletes its webhooks, queue and signing key', async () => {
    const u = await senderSetup(h);
    const { NewWebhookID } = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `https://${PUBLIC_IP}/d` });
    expect(await cmd('deletedomain', u, { DomainID: u.domainId })).toMatchObject({ Success: true });
    expect(await h.services.db('webhooks').where({ id: NewWebhookID }).first()).toBeUndefined();
    expect(await h.services.db('webhook_signing_keys').where({ domain_id: u.domainId }).first()).toBeUndefined();
  });
});

describe('emailgateway.regeneratesigningkey', () => {
  it("replaces one domain's key, shows it once and getwebhooks returns it afterwards; other domains keep theirs", async () => {
    const u = await senderSetup(h);
    const other = await senderSetup(h);
    const before = (await cmd('getwebhooks', u, { DomainID: u.domainId })).SigningKey;
    const otherBefore = (await cmd('getwebhooks', other, { DomainID: other.domainId })).SigningKey;
    const r = await cmd('regeneratesigningkey', u, { DomainID: u.domainId });
    expect(r).toEqual({ Success: true, ErrorCode: 0, SigningKey: expect.stringMatching(/^[0-9A-F]{64}$/), SigningSecret: expect.stringMatching(/^whsec_/) });
    expect(r.SigningKey).not.toBe(before);
    expect((await cmd('getwebhooks', u, { DomainID: u.domainId })).SigningKey).toBe(r.SigningKey);
    expect((await cmd('getwebhooks', other, { DomainID: other.domainId })).SigningKey).toBe(otherBefore);
    // A domain that never had a key gets one.
    const fresh = await senderSetup(h);
    expect((await cmd('regeneratesigningkey', fresh, { DomainID: fresh.domainId })).SigningKey).toMatch(/^[0-9A-F]{64}$/);
  });

  it("answers 1 for a missing DomainID and 2 for another user's domain", async () => {
    const stranger = await createUser(h);
    expect(await cmd('regeneratesigningkey', s, {})).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await cmd('regeneratesigningkey', stranger, { DomainID: s.domainId })).toMatchObject({ Success: false, ErrorCode: 2 });
  });
});

describe('/api/v1/webhooks', () => {
  it('creates, lists and deletes with the sender key; bare replies and the contract codes', async () => {
    const u = await senderSetup(h);
    const created = await v1.post(u.key, { Event: 'clicked', WebhookURL: `https://${PUBLIC_IP}/clicks` });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ NewWebhookID: expect.any(Number) });
    const legacyName = await v1.post(u.key, { Event: 'unsubscribe', WebhookURL: `https://${PUBLIC_IP}/u` });
    expect(legacyName.status).toBe(200);

    const list = await v1.get(u.key);
    expect(list.body.Webhooks.map((w: any) => [w.Event, w.WebhookURL])).toEqual([
      ['clicked', `https://${PUBLIC_IP}/clicks`],
      ['unsubscribed', `https://${PUBLIC_IP}/u`],
    ]);

    const bad = async (body: Record<string, unknown>, status: number, code: number) => {
      const r = await v1.post(u.key, body);
      expect({ body, status: r.status, code: r.body.Errors?.[0]?.Code }).toEqual({ body, status, code });
    };
    await bad({ WebhookURL: `https://${PUBLIC_IP}/` }, 200, 2);
    await bad({ Event: 'delivered' }, 200, 5);
    await bad({ Event: 'exploded', WebhookURL: `https://${PUBLIC_IP}/` }, 200, 3);
    await bad({ Event: 'delivered', WebhookURL: 'not a url' }, 200, 3);
    await bad({ Event: 'delivered', WebhookURL: 'ftp://example.com/' }, 200, 6);
    await bad({ Event: 'delivered', WebhookURL: 'http://10.0.0.1/' }, 200, 7);

    const noKey = await h.request('GET', '/api/v1/webhooks');
    expect(noKey.status).toBe(200);
    expect(noKey.body.Errors[0].Code).toBe(1);
    const badKey = await v1.get('nope');
    expect(badKey.status).toBe(200);
    expect(badKey.body.Errors[0].Code).toBe(13);

    expect((await v1.del(u.key, {})).body.Errors[0].Code).toBe(1);
    const foreign = await v1.del(s.key, { WebhookID: created.body.NewWebhookID });
    expect(foreign.status).toBe(200);
    expect(foreign.body.Errors[0]).toEqual({ Code: 4, Message: 'Invalid WebhookID' });
    const del = await v1.del(u.key, { WebhookID: created.body.NewWebhookID });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({});
    expect((await v1.get(u.key)).body.Webhooks).toHaveLength(1);
  });
});

describe('URL length', () => {
  /** Every door that registers a webhook URL, with the status and the codes it answers. */
  async function doors(u: Sender, url: string): Promise<Record<string, unknown>> {
    const key = await accountKey(h, u.sessionId);
    const bearer = (path: string, k: string, body: Record<string, unknown>) => h.request('POST', path, { headers: { Authorization: `Bearer ${k}` }, body });
    const legacy = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: url });
    const octeth = await v1.post(u.key, { Event: 'delivered', WebhookURL: url });
    const create = await h.call({ Command: 'webhook.create', SenderAPIKey: key, URL: url, Events: 'delivered' });
    const platform = await bearer('/api/v1/webhooks', key, { url, events: ['email.sent'] });
    const cloudmails = await bearer('/v1/webhooks', key, { url, events: ['delivered'] });
    return {
      legacy: [legacy.Success, legacy.ErrorCode],
      octeth: [octeth.status, octeth.body.Errors?.map((e: { Code: number }) => e.Code)],
      create: [create.Success, create.ErrorCode],
      platform: [platform.status, platform.body.code],
      cloudmails: [cloudmails.status, cloudmails.body.code],
    };
  }

  it('answers a URL that grows past 2048 characters when percent-encoded as it answers one sent too long, in every door', async () => {
    const u = await senderSetup(h);
    const encoded = `https://${PUBLIC_IP}/${'😀'.repeat(500)}`;
    expect(encoded.length).toBeLessThan(2048);
    expect(new URL(encoded).href.length).toBeGreaterThan(2048);
    const sentTooLong = await doors(u, `https://${PUBLIC_IP}/${'a'.repeat(2100)}`);
    expect(sentTooLong).toEqual({
      legacy: [false, [6]],
      octeth: [200, [3]],
      create: [false, [3]],
      platform: [400, 'invalid_request'],
      cloudmails: [400, 400],
    });
    expect(await doors(u, encoded)).toEqual(sentTooLong);
    expect(await h.services.db('webhooks').where({ user_id: u.userId }).count({ n: '*' })).toEqual([{ n: 0 }]);
  });
});

describe('webhooks per account', () => {
  /** `n` webhooks of the sender's domain as fixture rows (`/hook/<i>`); the doors under test are the creates. */
  async function fixtureHooks(u: { userId: number; domainId: number }, n: number): Promise<void> {
    const now = Date.now();
    await h.services.db('webhooks').insert(
      Array.from({ length: n }, (_, i) => ({
        user_id: u.userId,
        domain_id: u.domainId,
        event: 'delivered',
        url: `https://${PUBLIC_IP}/hook/${i}`,
        status: 'Enabled',
        consecutive_failures: 0,
        created_at: now,
        updated_at: now,
      })),
    );
  }

  it('refuses a 51st webhook of an account in every door, counts across its domains, and takes one again after a delete', async () => {
    const u = await senderSetup(h);
    await fixtureHooks(u, 50);
    const url = `https://${PUBLIC_IP}/one-more`;
    const key = await accountKey(h, u.sessionId);
    const bearer = (path: string, body: Record<string, unknown>) => h.request('POST', path, { headers: { Authorization: `Bearer ${key}` }, body });
    const legacy = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: url });
    expect([legacy.Success, legacy.ErrorCode, legacy.ErrorText]).toEqual([false, 8, 'At most 50 webhooks per account: delete one before adding another']);
    expect((await v1.post(u.key, { Event: 'delivered', WebhookURL: url })).body.Errors.map((e: { Code: number }) => e.Code)).toEqual([8]);
    expect((await h.call({ Command: 'webhook.create', SenderAPIKey: key, URL: url, Events: 'delivered' })).ErrorCode).toEqual(11);
    expect(await bearer('/api/v1/webhooks', { url, events: ['email.sent'] }).then((r) => [r.status, r.body.code])).toEqual([400, 'invalid_request']);
    expect(await bearer('/v1/webhooks', { url, events: ['delivered'] }).then((r) => r.status)).toBe(400);
    // Another domain of the same account shares the count; the same event and URL again is not a new webhook.
    const other = await addDomain(h, u.sessionId, uniqueDomain('cap'));
    expect((await cmd('addwebhook', u, { DomainID: other, Event: 'delivery', WebhookURL: url })).ErrorCode).toBe(8);
    expect((await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `https://${PUBLIC_IP}/hook/0` })).Success).toBe(true);
    const first = await h.services.db('webhooks').where({ user_id: u.userId }).orderBy('id').first('id');
    expect((await cmd('deletewebhook', u, { DomainID: u.domainId, WebhookID: first.id })).Success).toBe(true);
    expect((await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: url })).Success).toBe(true);
    expect(await h.services.db('webhooks').where({ user_id: u.userId }).count({ n: '*' })).toEqual([{ n: 50 }]);
  });

  it('holds the cap, and one row per URL, when creates arrive at once', async () => {
    const u = await senderSetup(h);
    await fixtureHooks(u, 47);
    const count = async () => Number((await h.services.db('webhooks').where({ user_id: u.userId }).count({ n: '*' }))[0].n);
    // The same event and URL four times at once: one webhook, every answer its id.
    const same = await Promise.all(
      [0, 1, 2, 3].map(() => cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `https://${PUBLIC_IP}/same` })),
    );
    expect(new Set(same.map((a) => a.NewWebhookID)).size).toBe(1);
    expect(await count()).toBe(48);
    // Six new URLs at once with room for two: two are taken, four refused.
    const race = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `https://${PUBLIC_IP}/race/${i}` })),
    );
    expect(race.map((a) => a.ErrorCode).sort()).toEqual([0, 0, 8, 8, 8, 8]);
    expect(await count()).toBe(50);
    // Subscriptions (their own secret) share the cap; at the cap, subscribing an existing URL again updates it.
    const key = await accountKey(h, u.sessionId);
    await h.services
      .db('webhooks')
      .where({ user_id: u.userId, url: `https://${PUBLIC_IP}/hook/0` })
      .del();
    const subscribe = (url: string, events: string) => h.call({ Command: 'webhook.create', SenderAPIKey: key, URL: url, Events: events });
    const subs = await Promise.all([1, 2, 3].map((i) => subscribe(`https://${PUBLIC_IP}/sub/${i}`, 'delivered')));
    expect(subs.map((a) => a.ErrorCode).sort()).toEqual([0, 11, 11]);
    expect(await count()).toBe(50);
    const taken = subs.find((a) => a.ErrorCode === 0)!;
    const again = await subscribe(taken.URL, 'delivered,bounced');
    expect([again.ErrorCode, again.WebhookID, again.Events]).toEqual([0, taken.WebhookID, ['delivered', 'bounced']]);
    expect(await count()).toBe(50);
  });
});

describe('SSRF at delivery time', () => {
  it('refuses a call whose host now resolves to loopback (DNS rebinding) and logs the refusal', async () => {
    const u = await senderSetup(h);
    const host = name('rebind');
    dns.zone.set(host, { a: [PUBLIC_IP] });
    const { NewWebhookID } = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `http://${host}:${rx.port}/rebind` });
    expect(NewWebhookID).toEqual(expect.any(Number));
    dns.zone.set(host, { a: ['127.0.0.1'] }); // the attacker's DNS now points the name at the gateway's own loopback
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${u.key}` },
      body: {
        Subject: 'x',
        ContentType: 'plain',
        PlainContent: 'x',
        From: { name: '', email: `a@${u.domain}` },
        To: [{ name: '', email: 'r@recipient.test' }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(
      async () => (await cmd('getwebhooklog', u, { DomainID: u.domainId, WebhookID: NewWebhookID })).Attempts.length >= 1,
      15000,
      'refused attempt',
    );
    const logged = await cmd('getwebhooklog', u, { DomainID: u.domainId, WebhookID: NewWebhookID });
    expect(logged).toMatchObject({ Success: true, Webhook: { WebhookID: NewWebhookID, Event: 'delivery' }, Pending: 1 });
    expect(logged.Attempts[0]).toMatchObject({
      Result: 'refused',
      StatusCode: null,
      Error: 'address not allowed',
    });
    expect(rx.hits.filter((x) => x.path === '/rebind')).toHaveLength(0);
    await cmd('deletewebhook', u, { DomainID: u.domainId, WebhookID: NewWebhookID });
  });

  it('reaches a host name through the address it vetted when private addresses are allowed (the pinned lookup)', async () => {
    const u = await senderSetup(h);
    const host = name('internal');
    dns.zone.set(host, { a: ['127.0.0.1'] });
    h.services.config.webhooks.allowPrivate = true;
    try {
      const { NewWebhookID } = await cmd('addwebhook', u, { DomainID: u.domainId, Event: 'delivery', WebhookURL: `http://${host}:${rx.port}/named` });
      expect(NewWebhookID).toEqual(expect.any(Number));
      await h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${u.key}` },
        body: {
          Subject: 'x',
          ContentType: 'plain',
          PlainContent: 'x',
          From: { name: '', email: `a@${u.domain}` },
          To: [{ name: '', email: 'n@recipient.test' }],
        },
      });
      await waitFor(() => rx.hits.some((x) => x.path === '/named'), 15000, 'call by name');
    } finally {
      h.services.config.webhooks.allowPrivate = false;
    }
    const hit = rx.hits.find((x) => x.path === '/named')!;
    expect(hit.headers.host).toBe(`${host}:${rx.port}`);
    verifyHit(hit, await cmd('getwebhooks', u, { DomainID: u.domainId }));
  });

  it('getwebhooklog answers 1/2, 3, 4 and 5', async () => {
    const stranger = await senderSetup(h);
    const { NewWebhookID } = await cmd('addwebhook', s, { DomainID: s.domainId, Event: 'click', WebhookURL: `https://${PUBLIC_IP}/log` });
    expect(await cmd('getwebhooklog', s, {})).toMatchObject({ ErrorCode: [1, 2] });
    expect(await cmd('getwebhooklog', stranger, { DomainID: s.domainId, WebhookID: NewWebhookID })).toMatchObject({ ErrorCode: 3 });
    expect(await cmd('getwebhooklog', stranger, { DomainID: stranger.domainId, WebhookID: NewWebhookID })).toMatchObject({ ErrorCode: 4 });
    expect(await cmd('getwebhooklog', s, { DomainID: s.domainId, WebhookID: NewWebhookID, RetrieveCount: 500 })).toMatchObject({ ErrorCode: [5] });
    expect(await cmd('getwebhooklog', s, { DomainID: s.domainId, WebhookID: NewWebhookID })).toMatchObject({
      Success: true,
      ErrorCode: 0,
      Pending: 0,
      Attempts: [],
    });
    const pub = await h.request('GET', `/api/v1/webhooks/${NewWebhookID}/log`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(pub.status).toBe(200);
    expect(pub.body).toMatchObject({ Webhook: { WebhookID: NewWebhookID, Event: 'clicked' }, Pending: 0, Attempts: [] });
    expect((await h.request('GET', `/api/v1/webhooks/${NewWebhookID}/log`, { headers: { Authorization: `Bearer ${stranger.key}` } })).body.Errors[0].Code).toBe(
      4,
    );
  });
});
