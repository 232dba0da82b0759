/**
 * The DNS watch as the worker role runs it: two built worker processes (`node dist/src/main.js worker`) on one
 * MariaDB, re-verifying every second against a real DNS server (dns2). A broken record must be found, reported
 * once (not once per worker) and, with no grace, send the domain back to Approval Pending.
 */
import { childEnv, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { DnsZone, publish, startDnsZone } from '../helpers/dns-zone';
import { RoleProcess, spawnRole } from '../helpers/roles';
import { waitFor } from '../helpers/sink';

let dns: DnsZone;
let h: Harness;
const procs: RoleProcess[] = [];

beforeAll(async () => {
  dns = await startDnsZone();
  h = await startHarness({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  for (const p of procs) await p.kill('SIGTERM');
  await h.services.queues.close();
  await h.close();
  await dns.close();
});

it('two workers find a broken record, report it once, and send the domain back to Approval Pending after the (zero) grace', async () => {
  const u = await createUser(h);
  const name = uniqueDomain('workers');
  const added = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: name });
  const id = added.NewSenderDomainID as number;
  publish(dns.zone, added.Domain.DNSRecords);
  expect((await h.call({ Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: id })).Domain.Status).toBe('Enabled');
  dns.zone.delete(`sl.${name}`);

  const env = {
    ...childEnv(h),
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
    DNS_WATCH_INTERVAL_SECONDS: '1',
    DNS_FAILURE_GRACE_HOURS: '0',
    LOG_LEVEL: 'error',
  };
  procs.push(spawnRole('worker', env), spawnRole('worker', env));

  const row = () => h.services.db('sender_domains').where({ id }).first();
  await waitFor(async () => (await row()).status === 'Approval Pending', 45_000, 'the watch to deactivate the domain');
  const events = await h.services.db('domain_events').where({ domain_id: id }).orderBy('id').pluck('type');
  expect(events).toEqual(['domain.dns_failed', 'domain.deactivated']);

  // Mended: a worker's next check brings it back, once.
  publish(dns.zone, added.Domain.DNSRecords);
  await waitFor(async () => (await row()).status === 'Enabled', 30_000, 'the watch to enable the domain again');
  await new Promise((r) => setTimeout(r, 2500)); // a few more checks by both workers
  expect(await h.services.db('domain_events').where({ domain_id: id }).orderBy('id').pluck('type')).toEqual([
    'domain.dns_failed',
    'domain.deactivated',
    'domain.dns_restored',
  ]);
  expect((await row()).dns_failures).toBeNull();
}, 120_000);
