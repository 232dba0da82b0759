/**
 * MX_TLS (DELIVERY_MODE=mx): `encrypt` never sends in clear, `verify` also checks the MX certificate's name and
 * chain (MX_TLS_CA_FILE adds a CA). Each policy is its own gateway here (settings are read at start), delivering
 * through real SMTP sessions to sinks on loopback addresses found through a real DNS server.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import selfsigned from 'selfsigned';
import { Transports } from '../../src/delivery/transports';
import { DkimKeyCache } from '../../src/delivery/dkim-keys';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { DeliveryGateway, firstAttempt, sendOne, startDeliveryGateway, stopDeliveryGateways } from '../helpers/delivery-gateway';
import { Sink, startSink } from '../helpers/sink';

let dns: DnsZone;
let plain: Sink; // 127.0.0.1: no STARTTLS
let selfSigned: Sink; // 127.0.0.4: STARTTLS with smtp-server's own certificate (for no name of ours, and expired)
let named: Sink; // 127.0.0.5: STARTTLS with a certificate for `certified`'s MX, from the CA in MX_TLS_CA_FILE
let refuser: net.Server; // 127.0.0.6: offers STARTTLS, then refuses it with a 454
const refused: { to: string[]; data: string }[] = [];
let breaker: net.Server; // 127.0.0.8: offers STARTTLS, says 220, then breaks the handshake (a TLS stack we cannot meet)
const broke: { to: string[]; data: string }[] = [];
let handshakes = 0;
let liars: net.Server[] = []; // 127.0.0.9 greets with a 550; 127.0.0.11 greets, then answers EHLO with a 550 (an attacker on the path)
let dir: string;
const rdomain = (label: string) => `${label}-${crypto.randomBytes(4).toString('hex')}.example.net`;
const certified = rdomain('certified');

const gateways: DeliveryGateway[] = [];

/** A gateway delivering to the MX hosts below, with these settings. */
async function gateway(settings: Record<string, string>): Promise<DeliveryGateway> {
  const g = await startDeliveryGateway({
    DELIVERY_MODE: 'mx',
    MX_PORT: String(plain.port),
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
    MX_ALLOW_PRIVATE: '1', // every MX here is on loopback
    ...settings,
  });
  gateways.push(g);
  return g;
}

beforeAll(async () => {
  dns = await startDnsZone();
  plain = await startSink();
  selfSigned = await startSink({ host: '127.0.0.4', port: plain.port }, { starttls: true });
  const pems = await selfsigned.generate([{ name: 'commonName', value: `mx.${certified}` }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: `mx.${certified}` }] }],
  });
  named = await startSink({ host: '127.0.0.5', port: plain.port }, { tls: { key: pems.private, cert: pems.cert } });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-mx-tls-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), pems.cert);
  refuser = await startHandMadeMx('127.0.0.6', plain.port, refused, (socket) => socket.write('454 4.7.0 TLS not available due to local problem\r\n'));
  breaker = await startHandMadeMx('127.0.0.8', plain.port, broke, (socket) => {
    handshakes += 1;
    socket.end('220 2.0.0 Ready to start TLS\r\nnot a TLS server hello\r\n');
  });
  liars = await Promise.all([
    startLiar('127.0.0.9', plain.port, (socket) => socket.end('550 5.1.1 <reader@victim> User unknown\r\n')),
    startLiar('127.0.0.11', plain.port, (socket) => {
      socket.write('220 liar.test ESMTP\r\n');
      socket.once('data', () => socket.end('550 5.1.1 <reader@victim> User unknown\r\n'));
    }),
  ]);
  dns.zone.set(certified, { mx: [{ exchange: `mx.${certified}`, priority: 10 }] });
  dns.zone.set(`mx.${certified}`, { a: ['127.0.0.5'] });
});
afterAll(async () => {
  await stopDeliveryGateways(gateways);
  await Promise.all([plain, selfSigned, named].map((sk) => sk.close()));
  await new Promise((resolve) => refuser.close(resolve));
  await new Promise((resolve) => breaker.close(resolve));
  await Promise.all(liars.map((l) => new Promise((resolve) => l.close(resolve))));
  await dns.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const to = (sk: Sink, address: string) => sk.received.filter((m) => m.to.includes(address));

/**
 * An MX that offers STARTTLS in its EHLO and answers it with `onStarttls` (a 454, or a 220 followed by no TLS at all:
 * broken TLS setups, common enough), and takes mail in clear into `got`. Written by hand: smtp-server cannot be made
 * to refuse or break its own STARTTLS.
 */
function startHandMadeMx(host: string, port: number, got: { to: string[]; data: string }[], onStarttls: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buffer = '';
    let data: string | null = null;
    let rcpt: string[] = [];
    socket.write('220 refuser.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (data !== null) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          got.push({ to: rcpt, data: data + buffer.slice(0, end) });
          buffer = buffer.slice(end + 5);
          data = null;
          rcpt = [];
          socket.write('250 2.0.0 Ok: queued in clear\r\n');
          continue;
        }
        const nl = buffer.indexOf('\r\n');
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') socket.write('250-refuser.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n');
        else if (verb === 'STAR') onStarttls(socket);
        else if (verb === 'RCPT') {
          rcpt.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
          socket.write('250 2.1.5 Ok\r\n');
        } else if (verb === 'DATA') {
          data = '';
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
        else socket.write('250 2.0.0 Ok\r\n'); // MAIL, RSET, NOOP
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** A server that says `greet` to each connection (and whatever follows it), then hangs up. */
function startLiar(host: string, port: number, greet: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    greet(socket);
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

it('may (the default) sends in clear to an MX that offers STARTTLS and then refuses it, as an MTA does', async () => {
  const g = await gateway({});
  const broken = rdomain('broken');
  dns.zone.set(broken, { a: ['127.0.0.6'] });
  const d = await firstAttempt(g, await sendOne(g, `reader@${broken}`, 'Despite a broken STARTTLS'));
  expect(d.status).toBe('delivered');
  expect(refused.filter((m) => m.to.includes(`reader@${broken}`))).toHaveLength(1);
  const events = await g.h.request('GET', `/api/v1/events?MessageID=${d.message_id}&Event=delivered`, { headers: { Authorization: `Bearer ${g.s.key}` } });
  expect(events.body.Events[0].Data).toMatchObject({ tls: 'none', smtp_reply: '250 2.0.0 Ok: queued in clear' });
});

it('may sends in clear to an MX whose TLS handshake fails, after its other MX hosts had their turn with TLS, as Postfix does', async () => {
  const g = await gateway({});
  const broken = rdomain('handshake');
  dns.zone.set(broken, {
    mx: [
      { exchange: `broken.${broken}`, priority: 5 },
      { exchange: `down.${broken}`, priority: 10 },
    ],
  });
  dns.zone.set(`broken.${broken}`, { a: ['127.0.0.8'] });
  dns.zone.set(`down.${broken}`, { a: ['127.0.0.10'] }); // nothing listens on this port there
  const first = await firstAttempt(g, await sendOne(g, `first@${broken}`, 'Despite a broken handshake'));
  // Its 250 is in the delivered event (checked below), not on the row: a first attempt's settle keeps the row's size.
  expect(first).toMatchObject({ status: 'delivered', last_reply: null });
  expect(Number(first.attempts)).toBe(1);
  const events = await g.h.request('GET', `/api/v1/events?MessageID=${first.message_id}&Event=delivered`, { headers: { Authorization: `Bearer ${g.s.key}` } });
  expect(events.body.Events[0].Data).toMatchObject({ tls: 'none', tls_policy: 'may', smtp_reply: '250 2.0.0 Ok: queued in clear' });
  expect(handshakes).toBe(1);
  // The next message goes in clear at once: the failed handshake is not tried again for a while.
  expect((await firstAttempt(g, await sendOne(g, `second@${broken}`, 'Again'))).status).toBe('delivered');
  expect(handshakes).toBe(1);
  expect(broke.map((m) => m.to)).toEqual([[`first@${broken}`], [`second@${broken}`]]);
});

it('encrypt passes over an MX without STARTTLS for one with it, and defers (not bounces) when none has it', async () => {
  const g = await gateway({ MX_TLS: 'encrypt' });
  const mixed = rdomain('mixed');
  dns.zone.set(mixed, {
    mx: [
      { exchange: `plain.${mixed}`, priority: 5 },
      { exchange: `tls.${mixed}`, priority: 10 },
    ],
  });
  dns.zone.set(`plain.${mixed}`, { a: ['127.0.0.1'] });
  dns.zone.set(`tls.${mixed}`, { a: ['127.0.0.4'] }); // any certificate will do under encrypt
  const plainOnly = rdomain('plainonly');
  dns.zone.set(plainOnly, { a: ['127.0.0.1'] });
  const broken = rdomain('broken');
  dns.zone.set(broken, { a: ['127.0.0.6'] });

  const viaTls = await firstAttempt(g, await sendOne(g, `reader@${mixed}`, 'Only over TLS'));
  expect(viaTls.status).toBe('delivered');
  expect(to(selfSigned, `reader@${mixed}`).map((m) => m.secure)).toEqual([true]);
  const held = await firstAttempt(g, await sendOne(g, `reader@${plainOnly}`, 'Never in clear'));
  expect(held.status).toBe('deferred');
  expect(held.last_reply).toBe(
    `MX_TLS encrypt for ${plainOnly}: ${plainOnly} did not start TLS (500 Error: command not recognized); nothing was sent in clear`,
  );
  // Neither message reached the MX without TLS, though it was the preferred one of the first.
  expect([...to(plain, `reader@${mixed}`), ...to(plain, `reader@${plainOnly}`)]).toEqual([]);
  // An MX that offers STARTTLS and refuses it gets nothing in clear either.
  const brokenTls = await firstAttempt(g, await sendOne(g, `reader@${broken}`, 'Not to a broken STARTTLS'));
  expect(brokenTls.status).toBe('deferred');
  expect(brokenTls.last_reply).toBe(
    `MX_TLS encrypt for ${broken}: ${broken} did not start TLS (454 4.7.0 TLS not available due to local problem); nothing was sent in clear`,
  );
  expect(refused.filter((m) => m.to.includes(`reader@${broken}`))).toEqual([]);
});

it('encrypt trusts no reply before TLS: a 5xx greeting or EHLO reply neither bounces nor suppresses, the next MX gets the mail', async () => {
  const g = await gateway({ MX_TLS: 'encrypt' });
  const both = rdomain('liar');
  dns.zone.set(both, {
    mx: [
      { exchange: `liar.${both}`, priority: 5 },
      { exchange: `tls.${both}`, priority: 10 },
    ],
  });
  dns.zone.set(`liar.${both}`, { a: ['127.0.0.9'] });
  dns.zone.set(`tls.${both}`, { a: ['127.0.0.4'] });
  const passed = await firstAttempt(g, await sendOne(g, `reader@${both}`, 'Past a lying greeting'));
  expect(passed.status).toBe('delivered');
  expect(to(selfSigned, `reader@${both}`).map((m) => m.secure)).toEqual([true]);

  for (const [label, ip] of [
    ['greeting', '127.0.0.9'],
    ['ehlo', '127.0.0.11'],
  ]) {
    const only = rdomain(label);
    dns.zone.set(only, { a: [ip] });
    const held = await firstAttempt(g, await sendOne(g, `reader@${only}`, 'Not bounced by a liar'));
    expect(held.status).toBe('deferred');
    expect(held.last_reply).toBe(
      `MX_TLS encrypt for ${only}: ${only} answered before TLS (550 5.1.1 <reader@victim> User unknown), which is not trusted; nothing was sent`,
    );
    expect(
      await g.h.services
        .db('suppressions')
        .where({ email: `reader@${only}` })
        .first(),
    ).toBeUndefined();
  }
});

it('verify delivers to an MX whose certificate is valid for its name, and defers one whose certificate is not', async () => {
  const g = await gateway({ MX_TLS: 'verify', MX_TLS_CA_FILE: path.join(dir, 'ca.pem') });
  const good = await firstAttempt(g, await sendOne(g, `reader@${certified}`, 'To a certified MX'));
  expect(good.status).toBe('delivered');
  const events = await g.h.request('GET', `/api/v1/events?MessageID=${good.message_id}&Event=delivered`, { headers: { Authorization: `Bearer ${g.s.key}` } });
  expect(events.body.Events[0].Data).toMatchObject({ tls: expect.stringMatching(/^TLSv1\.[23]$/), tls_policy: 'verify' });
  expect(to(named, `reader@${certified}`).map((m) => m.secure)).toEqual([true]);

  // The same certificate presented for another name, and smtp-server's own: neither is valid for that MX.
  const misnamed = rdomain('misnamed');
  dns.zone.set(misnamed, { mx: [{ exchange: `mx.${misnamed}`, priority: 10 }] });
  dns.zone.set(`mx.${misnamed}`, { a: ['127.0.0.5'] });
  const stranger = rdomain('stranger');
  dns.zone.set(stranger, { mx: [{ exchange: `mx.${stranger}`, priority: 10 }] });
  dns.zone.set(`mx.${stranger}`, { a: ['127.0.0.4'] });
  for (const domain of [misnamed, stranger]) {
    const d = await firstAttempt(g, await sendOne(g, `reader@${domain}`, 'To an unverified MX'));
    expect(d.status).toBe('deferred');
    // Our rule at work, said as such: not a verdict of that MX on the message.
    expect(d.last_reply).toMatch(
      new RegExp(
        `^MX_TLS verify for ${domain.replace(/\./g, '\\.')}: mx\\.${domain.replace(/\./g, '\\.')}'s TLS handshake failed \\(ESOCKET .+\\); nothing was sent in clear$`,
      ),
    );
  }
  expect([...to(named, `reader@${misnamed}`), ...to(selfSigned, `reader@${stranger}`)]).toEqual([]);
});

it('MX_TLS_DOMAINS holds chosen recipient domains, and the subdomains of a parent, to a stricter policy than the rest', async () => {
  const parent = rdomain('partner');
  const strict = rdomain('strict');
  const g = await gateway({ MX_TLS_DOMAINS: `${strict}=encrypt,.${parent}=encrypt` });
  const loose = rdomain('loose');
  // Every one of them on the same MX host (one name, so one pool but for the policy), which offers no STARTTLS.
  const shared = `mx.${rdomain('shared')}`;
  dns.zone.set(shared, { a: ['127.0.0.1'] });
  for (const domain of [strict, `mail.${parent}`, parent, loose]) dns.zone.set(domain, { mx: [{ exchange: shared, priority: 10 }] });
  const held = [strict, `mail.${parent}`];
  const sent = [parent, loose]; // `.parent` names its subdomains, not itself
  const rows = new Map<string, { status: string; last_reply: string }>();
  for (const domain of [...held, ...sent]) rows.set(domain, await firstAttempt(g, await sendOne(g, `reader@${domain}`, `Policy for ${domain}`)));
  for (const domain of held) {
    expect(rows.get(domain)).toMatchObject({
      status: 'deferred',
      last_reply: `MX_TLS encrypt for ${domain}: ${shared} did not start TLS (500 Error: command not recognized); nothing was sent in clear`,
    });
    expect(to(plain, `reader@${domain}`)).toEqual([]);
  }
  for (const domain of sent) {
    expect(rows.get(domain)?.status).toBe('delivered');
    expect(to(plain, `reader@${domain}`).map((m) => m.secure)).toEqual([false]);
  }
});

it('refuses an MX_TLS_CA_FILE it cannot read when the worker starts, naming the file', () => {
  const config = { ...gateways[0].h.services.config, mxTls: 'verify' as const, mxTlsCaFile: path.join(dir, 'missing.pem') };
  expect(() => new Transports(config, new DkimKeyCache())).toThrow(/^MX_TLS_CA_FILE .*missing\.pem cannot be read: ENOENT/);
});
