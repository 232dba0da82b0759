import fs from 'node:fs';
import path from 'node:path';
import { consoleDir } from '../../src/console/serve';
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('Cache-Control on replies', () => {
  it('no API reply may be stored: a GET user.login with its SessionID, a send, a v1 error, a dialect route', async () => {
    const u = await createUser(h);
    const login = await h.request('GET', '/api.php', { query: { Command: 'user.login', Username: u.username, Password: u.password, ResponseFormat: 'JSON' } });
    expect(login.body.SessionID).toEqual(expect.any(String));
    expect(login.headers['cache-control']).toBe('no-store');
    const s = await senderSetup(h);
    const sent = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'S', ContentType: 'plain', PlainContent: 'x', From: { email: `a@${s.domain}` }, To: [{ email: 'to@example.org' }] },
    });
    expect(sent.body.MessageID).toEqual(expect.any(String));
    expect(sent.headers['cache-control']).toBe('no-store');
    for (const p of ['/api/v1/nothing-here', '/email/v1/domains', '/v1/domains']) {
      expect((await h.request('GET', p)).headers['cache-control']).toBe('no-store');
    }
  });

  it('the console keeps its own: hashed assets immutable, the page revalidated', async () => {
    const assets = path.join(consoleDir(), 'assets');
    const file = fs.readdirSync(assets).find((f) => f.endsWith('.js'))!;
    const asset = await h.request('GET', `/console/assets/${file}`);
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toMatch(/immutable/);
    expect((await h.request('GET', '/console/')).headers['cache-control']).toBe('no-cache');
  });
});
