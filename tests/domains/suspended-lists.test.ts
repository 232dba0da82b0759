/**
 * While a domain is suspended its owner cannot take addresses off its suppression list (the command or the sender
 * key's DELETE): the list is what the admin reviews, and the backlog the lift releases is checked against it.
 * Adding suppressions stays allowed; the lift allows removals again.
 */
import { Harness, markRecordsVerified, senderSetup, startHarness } from '../helpers/harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const admin = (params: Record<string, unknown>) => h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: h.adminKey, ...params });
const cmd = (s: Sender, command: string, params: Record<string, unknown> = {}) => h.call({ Command: command, SessionID: s.sessionId, ...params });
const listed = async (s: Sender) =>
  (await cmd(s, 'emailgateway.getsuppressions', { DomainID: s.domainId })).Suppressions.map((r: { EmailAddress: string }) => r.EmailAddress);
const del = (s: Sender, body: Record<string, unknown>) => h.request('DELETE', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` }, body });

async function suspended(): Promise<Sender> {
  const s = await senderSetup(h);
  await markRecordsVerified(h, s.domainId);
  for (const email of ['gone@bounce.test', 'kept@bounce.test'])
    expect(await cmd(s, 'emailgateway.addsuppression', { DomainID: s.domainId, EmailAddress: email })).toMatchObject({ Success: true });
  expect(await admin({ DomainID: s.domainId, Status: 'Suspended' })).toMatchObject({ Success: true, Status: 'Suspended' });
  return s;
}

describe('a suspended domain keeps its suppression list', () => {
  it('refuses emailgateway.deletesuppression with code 7 and removes nothing; the lift allows it again', async () => {
    const s = await suspended();
    const refused = await cmd(s, 'emailgateway.deletesuppression', { DomainID: s.domainId, EmailAddress: 'gone@bounce.test' });
    expect(refused).toMatchObject({ Success: false, ErrorCode: 7 });
    expect(JSON.stringify(refused)).toContain('The domain is suspended');
    // Adding stays allowed: it only narrows what the domain may send.
    expect(await cmd(s, 'emailgateway.addsuppression', { DomainID: s.domainId, EmailAddress: 'new@bounce.test' })).toMatchObject({ Success: true });
    expect((await listed(s)).sort()).toEqual(['gone@bounce.test', 'kept@bounce.test', 'new@bounce.test']);

    expect(await admin({ DomainID: s.domainId, Status: 'Enabled' })).toMatchObject({ Success: true, Status: 'Enabled' });
    expect(await cmd(s, 'emailgateway.deletesuppression', { DomainID: s.domainId, EmailAddress: 'gone@bounce.test' })).toMatchObject({ Success: true });
    expect((await listed(s)).sort()).toEqual(['kept@bounce.test', 'new@bounce.test']);
  });

  it("refuses the sender key's DELETE /api/v1/suppressions with code 7, and another domain of the account is not held by it", async () => {
    const s = await suspended();
    const res = await del(s, { EmailAddress: 'gone@bounce.test' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Errors: [{ Code: 7, Message: expect.stringContaining('The domain is suspended') }] });
    expect((await listed(s)).sort()).toEqual(['gone@bounce.test', 'kept@bounce.test']);

    const other = await senderSetup(h);
    expect(await cmd(other, 'emailgateway.addsuppression', { DomainID: other.domainId, EmailAddress: 'x@bounce.test' })).toMatchObject({ Success: true });
    expect((await del(other, { EmailAddress: 'x@bounce.test' })).body.Errors).toBeUndefined();
    expect(await listed(other)).toEqual([]);
  });
});
