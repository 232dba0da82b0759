/**
 * MAX_BODY_BYTES_IN_FLIGHT: the request bodies one process reads at once are bounded. Every door reads a whole body
 * (up to MAX_REQUEST_BYTES) before it knows who sent it; with no bound across requests, slow uploads of large bodies
 * held as much memory as they liked. A body that does not fit beside those being read is answered 503 with
 * Retry-After in the door's own envelope, before a byte of it is read; small bodies still fit; the room comes back
 * when a request ends, an abandoned one included.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';

let h: Harness;
let server: http.Server;
let port: number;
let slow: http.ClientRequest | undefined;
let platformKey: string;
beforeAll(async () => {
  h = await startHarness({ MAX_REQUEST_BYTES: String(1024 * 1024), MAX_BODY_BYTES_IN_FLIGHT: String(1536 * 1024) });
  platformKey = await accountKey(h, (await senderSetup(h)).sessionId);
  server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  // A failed run leaves the slow upload open: end it, or closing the server would wait for it.
  slow?.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h.services.queues.close();
  await h.close();
});

/** A request that declares a 1,000,000-byte body, sends 10 bytes of it and waits: a slow upload. */
function slowUpload(path: string): http.ClientRequest {
  const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': 1_000_000 } });
  req.on('error', () => undefined);
  req.write('{"Pad":"aa');
  return req;
}

const big = (command: string) => JSON.stringify({ Command: command, Pad: 'x'.repeat(700_000) });

it('answers 503 with Retry-After to a large body that does not fit beside a slow upload, takes small ones, and frees the room', async () => {
  slow = slowUpload('/api.php');
  await waitFor(() => h.services.bodies.used >= 1_000_000, 5000, 'the slow upload to be reserved');

  const refused = await h.request('POST', '/api.php', { headers: { 'Content-Type': 'application/json' }, body: big('user.login') });
  expect(refused.status).toBe(503);
  expect(refused.headers['retry-after']).toBe('1');
  expect(refused.body).toMatchObject({ Success: false, ErrorCode: 100007 });
  expect(JSON.stringify(refused.body)).toMatch(/MAX_BODY_BYTES_IN_FLIGHT/);
  // The same at a dialect door (its key is checked before the body is read: a made-up one is refused with no byte of
  // the body reserved) and a v1 route, each in its own envelope.
  const platform = (key: string) =>
    h.request('POST', '/api/v1/emails', { headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: big('x') });
  expect((await platform('sk_live_x')).status).toBe(401);
  const refusedPlatform = await platform(platformKey);
  expect(refusedPlatform.status).toBe(503);
  expect(refusedPlatform.headers['retry-after']).toBe('1');
  const v1 = await h.request('POST', '/api/v1/email', { headers: { 'Content-Type': 'application/json' }, body: big('x') });
  expect(v1.status).toBe(503);
  expect(v1.body.Errors[0].Code).toBe(100007);

  // A small body fits beside it.
  const small = await h.request('POST', '/api.php', { body: { Command: 'user.login', Username: 'nobody', Password: 'x' } });
  expect(small.status).toBe(200);
  expect(small.body.Success).toBe(false);

  // The upload abandoned, its room comes back.
  slow.destroy();
  await waitFor(() => h.services.bodies.used === 0, 5000, 'the reservation to be given back');
  const after = await h.request('POST', '/api.php', { headers: { 'Content-Type': 'application/json' }, body: big('user.login') });
  expect(after.status).toBe(200);
});
