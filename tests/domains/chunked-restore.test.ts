/**
 * Adding a deleted name again restores what it kept (src/domains/retained.ts) a run of DELETE_CHUNK_ROWS at a time,
 * outside the adding transaction: one INSERT … SELECT of a name kept with millions of addresses outlasted
 * DB_QUERY_TIMEOUT_MS inside it, and every re-add answered 503. A restore cut short leaves kept rows beside the live
 * domain (written straight here, as it leaves them): adding the name again, verifying the domain on, or its owner
 * switching it back on finishes it before it can send.
 */
import { deletesDuring, sizes } from '../helpers/delete-sizes';
import { DnsZone, publish, startDnsZone } from '../helpers/dns-zone';
import { createUser, Harness, markRecordsVerified, startHarness, uniqueDomain } from '../helpers/harness';

const RUN = 4;
const KEPT = 3 * RUN + 1;

let dns: DnsZone;
let h: Harness;
beforeAll(async () => {
  dns = await startDnsZone();
  h = await startHarness({ DELETE_CHUNK_ROWS: String(RUN), DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await h.close();
  await dns.close();
});

const count = async (table: string, where: Record<string, unknown>) => Number((await h.services.db(table).where(where).count({ n: '*' }).first())!.n);

/** KEPT addresses kept for the owner under `name`, as a deletion of it leaves them. */
async function keep(userId: number, name: string) {
  const at = Date.now();
  await h.services.db('retained_suppressions').insert(
    Array.from({ length: KEPT }, (_, i) => ({
      user_id: userId,
      domain: name,
      email: `k${i}@dest.test`,
      reason: i % 2 ? 'complaint' : 'unsubscribe',
      created_at: at - i,
      retained_at: at,
    })),
  );
}

/** The domain has every kept address back, with its reason, and nothing is kept under its name any more. */
async function expectRestored(userId: number, name: string, domainId: number) {
  expect(await count('suppressions', { domain_id: domainId })).toBe(KEPT);
  expect(await h.services.db('suppressions').where({ domain_id: domainId, email: 'k1@dest.test' }).first('reason')).toEqual({ reason: 'complaint' });
  expect(await count('retained_suppressions', { user_id: userId, domain: name })).toBe(0);
}

const add = (sessionId: string, name: string) => h.call({ Command: 'emailgateway.adddomain', SessionID: sessionId, DomainName: name });

it('emailgateway.adddomain restores a long kept list a run at a time, with its reply as before', async () => {
  const u = await createUser(h);
  const name = uniqueDomain('restore');
  await keep(u.userId, name);
  const { result, removed } = await deletesDuring(h.services.db, () => add(u.sessionId, name));
  expect(result).toMatchObject({
    Success: true,
    ErrorCode: 0,
    NewSenderDomainID: expect.any(Number),
    Domain: expect.objectContaining({ Status: 'Approval Pending' }),
  });
  expect(sizes(removed).retained_suppressions).toEqual({ max: RUN, total: KEPT });
  await expectRestored(u.userId, name, result.NewSenderDomainID);
});

it('a restore cut short is finished by adding the name again', async () => {
  const u = await createUser(h);
  const name = uniqueDomain('again');
  const first = await add(u.sessionId, name);
  await keep(u.userId, name);
  const again = await add(u.sessionId, name);
  expect(again).toMatchObject({ Success: true, NewSenderDomainID: first.NewSenderDomainID });
  await expectRestored(u.userId, name, first.NewSenderDomainID);
});

it('a restore cut short is finished before verification switches the domain on', async () => {
  const u = await createUser(h);
  const name = uniqueDomain('verify');
  const added = await add(u.sessionId, name);
  await keep(u.userId, name);
  publish(dns.zone, added.Domain.DNSRecords);
  const { result, removed } = await deletesDuring(h.services.db, () =>
    h.call({ Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: added.NewSenderDomainID }),
  );
  expect(result.Domain.Status).toBe('Enabled');
  expect(sizes(removed).retained_suppressions).toEqual({ max: RUN, total: KEPT });
  await expectRestored(u.userId, name, added.NewSenderDomainID);
});

it('a Disabled domain its owner switches back on gets back what its name kept first', async () => {
  const u = await createUser(h);
  const name = uniqueDomain('switch');
  const id = (await add(u.sessionId, name)).NewSenderDomainID;
  // Disabled with part of its list still kept (a deletion cut short also marks it, and is refused: deletion-mark.test.ts).
  await h.services.db('sender_domains').where({ id }).update({ status: 'Disabled' });
  await markRecordsVerified(h, id);
  await keep(u.userId, name);
  const r = await h.call({ Command: 'user.senderdomain.update', SessionID: u.sessionId, DomainID: id, Status: 'Enabled' });
  expect(r).toMatchObject({ Success: true });
  expect(r.SenderDomain.Status).toBe('Enabled');
  await expectRestored(u.userId, name, id);
});
