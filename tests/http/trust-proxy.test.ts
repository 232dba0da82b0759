/**
 * TRUST_PROXY as express means it: a hop count trusts that many proxies in front, true every one, and a list names
 * them. Passed on as a string, "1" was read as the address 0.0.0.1: X-Forwarded-For was ignored and every client of a
 * load balancer had the balancer's address, so one client's wrong credentials locked every client out and a key bound
 * to a client's address could not be used. A value express cannot read is refused when the config loads.
 */
import { ConfigError, loadConfig } from '../../src/config';
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ TRUST_PROXY: '1' });
});
afterAll(async () => {
  await h.close();
});

const current = (ip: string, key: string) =>
  h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': ip }, body: { Command: 'user.current', APIKey: key } });

it('TRUST_PROXY=1 takes the client address from the one proxy in front: a key bound to it works, from no other', async () => {
  const u = await createUser(h);
  const created = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'bound', BoundIPAddress: '203.0.113.7' });
  const key = created.APIKey.APIKey as string;
  expect((await current('203.0.113.7', key)).body).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  expect((await current('203.0.113.8', key)).body).toMatchObject({ Success: false, ErrorCode: [1] });
  // One hop only: the address the proxy was told by its client is not trusted.
  expect((await current('203.0.113.7, 198.51.100.1', key)).body).toMatchObject({ Success: false, ErrorCode: [1] });
});

it('reads a hop count as a number, true and false as booleans, and keeps a list of names and ranges', () => {
  expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
  expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
  expect(loadConfig({ TRUST_PROXY: 'False' }).trustProxy).toBe(false);
  expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8' }).trustProxy).toBe('loopback, 10.0.0.0/8, fd00::/8');
  expect(loadConfig({ TRUST_PROXY: '10.0.0.0/255.0.0.0' }).trustProxy).toBe('10.0.0.0/255.0.0.0');
});

it.each(['nonsense', '10.0.0.0/33', '1.2.3.4/8/1', 'loopback,', '0.0.0.0/0', 'Loopback'])('refuses TRUST_PROXY=%s when the config loads, naming it', (v) => {
  expect(() => loadConfig({ TRUST_PROXY: v })).toThrow(ConfigError);
  expect(() => loadConfig({ TRUST_PROXY: v })).toThrow(/^TRUST_PROXY: invalid (IP address|range).*give a hop count/);
});
