/**
 * SHUTDOWN_TIMEOUT_MS through a real gateway's stop() (what SIGTERM runs, src/main.ts): idle keep-alive connections
 * close at once, a request in flight gets its answer if it completes within the grace period (its connection's last,
 * closed after it), and one that does not is cut off when the period ends rather than holding the process up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { Running, start } from '../../src/main';
import { localGatewayEnv, quietStart } from '../helpers/local-gateway-env';
import { RawHttp, rawHttp } from '../helpers/raw-http';

const connected = (c: RawHttp) => new Promise((r) => c.socket.once('connect', r));

let dataDir: string;
let gateway: Running | undefined;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-shutdown-'));
  gateway = await start(
    loadConfig({
      ...localGatewayEnv(dataDir, 'shutdown-admin-key-0123456789', 'mx.shutdown.test'),
      DELIVERY_MODE: 'capture',
      SHUTDOWN_TIMEOUT_MS: '700',
      HTTP_REQUEST_TIMEOUT_MS: '60000',
    }),
    quietStart,
  );
});

afterAll(async () => {
  await gateway?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('closes idle connections at once, answers a request that completes in the grace period, and cuts off one that does not', async () => {
  const port = (gateway!.server!.address() as AddressInfo).port;
  const body = JSON.stringify({ Command: 'no.such.command' });
  const idle = rawHttp(port);
  const finishing = rawHttp(port);
  const stuck = rawHttp(port);
  await Promise.all([idle, finishing, stuck].map(connected));
  idle.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  for (const c of [finishing, stuck])
    c.socket.write(`POST /api.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n{"Command"`);
  for (let end = Date.now() + 5000; !idle.received().includes('\r\n\r\n') && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
  expect(idle.received()).toMatch(/^HTTP\/1\.1 200 /);

  const stopAt = Date.now();
  const stopped = gateway!.stop();
  // The first request's body arrives after SIGTERM, inside the grace period: it is served, not dropped.
  await new Promise((r) => setTimeout(r, 150));
  finishing.socket.write(body.slice('{"Command"'.length));

  expect((await idle.closedAt) - stopAt).toBeLessThan(500);
  const finished = await finishing.closedAt;
  expect(finishing.received()).toMatch(/^HTTP\/1\.1 \d{3} /);
  expect(finishing.received()).toContain('no.such.command');
  // Its reply is its connection's last: a client that reuses connections sends nothing more on it, and the server
  // closes it after the reply, not when the grace period cuts it off.
  expect(finishing.received()).toMatch(/\r\nConnection: close\r\n/i);
  expect(finished).toBeLessThan(await stuck.closedAt);
  const cut = (await stuck.closedAt) - stopAt;
  // SHUTDOWN_TIMEOUT_MS=700: not before it (the default would wait 10 s), and not long after.
  expect(cut).toBeGreaterThanOrEqual(650);
  expect(cut).toBeLessThan(5000);
  expect(stuck.received()).toBe('');
  await stopped;
  gateway = undefined;
});
