import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

const SMTP_HOST = 'smtp.postern-public.test';
const SMTP_PORTS = [25, 587, 2525];

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
const smtpRows = (domainId: number) => h.services.db('smtp_credentials').where({ domain_id: domainId }).orderBy('id');

async function ownerWithDomain() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  return { u, domainId };
}

describe('emailgateway.addsmtp', () => {
  it('creates SMTP credentials in the contract shape, with host and ports from the configuration', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, SMTP: { SMTPHost: SMTP_HOST, SMTPPorts: SMTP_PORTS } });
    expect(typeof r.NewSMTPID).toBe('number');
    expect(r.NewSMTPID).toBeGreaterThan(0);
    expect(r.SMTP.SMTPID).toBe(r.NewSMTPID);
    expect(typeof r.SMTP.SMTPUsername).toBe('string');
    expect(r.SMTP.SMTPUsername).toMatch(/^smtp_[a-z0-9]+$/);
    expect(typeof r.SMTP.SMTPPassword).toBe('string');
    expect(r.SMTP.SMTPPassword.length).toBeGreaterThanOrEqual(16);
    expect(r.SMTP.SMTPPassword).not.toBe(r.SMTP.SMTPUsername);
  });

  it('stores only the SHA-256 hex of the password, never the password itself', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: domainId });
    const password: string = r.SMTP.SMTPPassword;
    const rows = await smtpRows(domainId);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(Number(row.id)).toBe(r.NewSMTPID);
    expect(Number(row.user_id)).toBe(u.userId);
    expect(row.username).toBe(r.SMTP.SMTPUsername);
    expect(row.password_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.password_hash).toBe(sha256(password));
    for (const value of Object.values(row)) expect(String(value)).not.toContain(password);
  });

  it('gives every set of credentials its own id, username and password', async () => {
    const { u, domainId } = await ownerWithDomain();
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: domainId }));
    for (const r of replies) expect(r.Success).toBe(true);
    expect(new Set(replies.map((r) => r.NewSMTPID)).size).toBe(3);
    expect(new Set(replies.map((r) => r.SMTP.SMTPUsername)).size).toBe(3);
    expect(new Set(replies.map((r) => r.SMTP.SMTPPassword)).size).toBe(3);
    const rows = await smtpRows(domainId);
    expect(rows.map((row: any) => row.password_hash).sort()).toEqual(replies.map((r) => sha256(r.SMTP.SMTPPassword)).sort());
  });

  it('answers ErrorCode [1] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
  });

  it('answers ErrorCode 2 for a domain that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode 2 for a domain of another user, exactly as for a missing one, and adds nothing to it', async () => {
    const { domainId } = await ownerWithDomain();
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.addsmtp', SessionID: other.sessionId, DomainID: domainId });
    const missing = await h.call({ Command: 'emailgateway.addsmtp', SessionID: other.sessionId, DomainID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    expect(await smtpRows(domainId)).toHaveLength(0);
    expect(await h.services.db('smtp_credentials').where({ user_id: other.userId })).toHaveLength(0);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and creates nothing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.addsmtp', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRows(domainId)).toHaveLength(0);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and creates nothing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.addsmtp', SessionID: 'bogus-session', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRows(domainId)).toHaveLength(0);
  });
});
