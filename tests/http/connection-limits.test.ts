import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from '../../src/config';
import { Running, start } from '../../src/main';
import { rawSmtp } from '../helpers/smtp-raw';
import { rawHttp } from '../helpers/raw-http';
import { waitFor } from '../helpers/sink';
import { localGatewayEnv, quietStart } from '../helpers/local-gateway-env';

describe('connection limits of the HTTP and SMTP listeners (a real gateway, embedded store)', () => {
  let dataDir: string;
  let gateway: Running;
  let httpPort: number;
  let smtpPort: number;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-limits-'));
    gateway = await start(
      loadConfig({
        ...localGatewayEnv(dataDir, 'limits-admin-key-0123456789', 'mx.limits.test'),
        DELIVERY_MODE: 'capture',
        HTTP_HEADERS_TIMEOUT_MS: '300',
        HTTP_REQUEST_TIMEOUT_MS: '800',
        HTTP_MAX_CONNECTIONS: '3',
        SMTP_MAX_CONNECTIONS: '2',
      }),
      quietStart,
    );
    httpPort = (gateway.server!.address() as AddressInfo).port;
    smtpPort = gateway.smtp!.ports[0];
  });

  afterAll(async () => {
    await gateway?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 408 and closes a client that sends its headers too slowly', async () => {
    const c = rawHttp(httpPort);
    c.socket.write('POST /api.php HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const after = (await c.closedAt) - c.openedAt;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    // The timeout (300 ms) checked every 75 ms, not node's default 30 s interval.
    expect(after).toBeLessThan(3000);
  });

  it('answers 408 and closes a client whose body does not arrive within the request timeout', async () => {
    const c = rawHttp(httpPort);
    c.socket.write('POST /api.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Command":');
    const after = (await c.closedAt) - c.openedAt;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(after).toBeGreaterThanOrEqual(700);
    expect(after).toBeLessThan(4000);
  });

  it('closes connections past HTTP_MAX_CONNECTIONS at once, and serves again when one ends', async () => {
    const held = [rawHttp(httpPort), rawHttp(httpPort), rawHttp(httpPort)];
    await Promise.all(held.map((c) => new Promise((r) => c.socket.once('connect', r))));
    // Give the server time to accept all three before the fourth arrives.
    await new Promise((r) => setTimeout(r, 50));
    const fourth = rawHttp(httpPort);
    fourth.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await fourth.closedAt;
    expect(fourth.received()).toBe('');
    held[0].socket.destroy();
    await held[0].closedAt;
    // The server counts the closed connection out on its own close event, a moment after ours.
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`, { headers: { connection: 'close' } }).catch(() => null))?.status === 200,
      5000,
      'a served request',
    );
    for (const c of held) c.socket.destroy();
  });

  it('answers 421 past SMTP_MAX_CONNECTIONS on the relay front, and greets again when one ends', async () => {
    const a = await rawSmtp(smtpPort);
    const b = await rawSmtp(smtpPort);
    const third = net.connect(smtpPort, '127.0.0.1');
    let said = '';
    third.on('data', (d: Buffer) => (said += d.toString('latin1')));
    await new Promise((r) => third.on('close', r));
    expect(said).toMatch(/^421 /);
    a.close();
    await waitFor(
      async () => {
        const c = await rawSmtp(smtpPort).catch(() => null);
        if (!c) return false;
        c.close();
        return true;
      },
      5000,
      'a greeting',
    );
    b.close();
  });

  it('refuses a headers timeout above the request timeout at start', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(ConfigError);
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).toThrow(/must not exceed HTTP_REQUEST_TIMEOUT_MS/);
  });
});
