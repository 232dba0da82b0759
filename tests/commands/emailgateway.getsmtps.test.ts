import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

const SMTP_HOST = 'relay.getsmtps.test';
const SMTP_PORTS = [465, 2525];

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ SMTP_PUBLIC_HOST: SMTP_HOST, SMTP_PUBLIC_PORTS: SMTP_PORTS.join(',') });
});
afterAll(async () => {
  await h.close();
});

const AUTH_TEXT = 'Authentication failure or session expired';
const NOT_FOUND = { Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' };
const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const snapshot = async (domainId: number) =>
  (await h.services.db('smtp_credentials').where({ domain_id: domainId }).orderBy('id')).map((r: any) => [Number(r.id), r.username, r.password_hash]);

async function addSmtp(sessionId: string, domainId: number): Promise<{ id: number; username: string; password: string }> {
  const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: sessionId, DomainID: domainId });
  if (!r.Success) throw new Error(`addsmtp failed: ${JSON.stringify(r)}`);
  return { id: r.NewSMTPID, username: r.SMTP.SMTPUsername, password: r.SMTP.SMTPPassword };
}

async function ownerWithDomain() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  return { u, domainId };
}

describe('emailgateway.getsmtps', () => {
  it('lists the domain credentials in the contract shape, in creation order, with configured host and ports', async () => {
    const { u, domainId } = await ownerWithDomain();
    const a = await addSmtp(u.sessionId, domainId);
    const b = await addSmtp(u.sessionId, domainId);
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      SMTPs: [
        { SMTPID: a.id, SMTPUsername: a.username, SMTPHost: SMTP_HOST, SMTPPorts: SMTP_PORTS },
        { SMTPID: b.id, SMTPUsername: b.username, SMTPHost: SMTP_HOST, SMTPPorts: SMTP_PORTS },
      ],
    });
    expect(r.SMTPs).toHaveLength(2);
  });

  it('never includes SMTPPassword, the password or its hash in the reply', async () => {
    const { u, domainId } = await ownerWithDomain();
    const a = await addSmtp(u.sessionId, domainId);
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(r.SMTPs).toHaveLength(1);
    expect(r.SMTPs[0]).not.toHaveProperty('SMTPPassword');
    const text = JSON.stringify(r);
    expect(text).not.toContain(a.password);
    expect(text).not.toContain(sha256(a.password));
  });

  it('lists only the credentials of the asked domain', async () => {
    const u = await createUser(h);
    const d1 = await addDomain(h, u.sessionId, uniqueDomain());
    const d2 = await addDomain(h, u.sessionId, uniqueDomain());
    const s1 = await addSmtp(u.sessionId, d1);
    await addSmtp(u.sessionId, d2);
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: d1 });
    expect(r.SMTPs.map((s: any) => s.SMTPID)).toEqual([s1.id]);
  });

  it('answers an empty SMTPs list for a domain without credentials', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toEqual({ Success: true, ErrorCode: 0, SMTPs: [] });
  });

  it('answers ErrorCode [1] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
  });

  it('answers ErrorCode 2 for a domain that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode 2 for a domain of another user, exactly as for a missing one, and leaves its credentials alone', async () => {
    const { u, domainId } = await ownerWithDomain();
    const s = await addSmtp(u.sessionId, domainId);
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.getsmtps', SessionID: other.sessionId, DomainID: domainId });
    const missing = await h.call({ Command: 'emailgateway.getsmtps', SessionID: other.sessionId, DomainID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    expect(await snapshot(domainId)).toEqual([[s.id, s.username, sha256(s.password)]]);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getsmtps', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getsmtps', SessionID: 'bogus-session', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
  });
});
