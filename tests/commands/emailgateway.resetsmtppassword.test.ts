import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const AUTH_TEXT = 'Authentication failure or session expired';
const NOT_FOUND = { Success: false, ErrorCode: 2, ErrorText: 'SMTP credentials not found or access denied' };
const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const smtpRow = (id: number) => h.services.db('smtp_credentials').where({ id }).first();

async function addSmtp(sessionId: string, domainId: number): Promise<{ id: number; username: string; password: string }> {
  const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: sessionId, DomainID: domainId });
  if (!r.Success) throw new Error(`addsmtp failed: ${JSON.stringify(r)}`);
  return { id: r.NewSMTPID, username: r.SMTP.SMTPUsername, password: r.SMTP.SMTPPassword };
}

async function ownerWithSmtp() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  const smtp = await addSmtp(u.sessionId, domainId);
  return { u, domainId, smtp };
}

describe('emailgateway.resetsmtppassword', () => {
  it('answers the contract shape with the same id and username and a new password', async () => {
    const { u, smtp } = await ownerWithSmtp();
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: smtp.id });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      SMTP: { SMTPID: smtp.id, SMTPUsername: smtp.username, SMTPPassword: expect.any(String) },
    });
    expect(r.SMTP.SMTPPassword.length).toBeGreaterThanOrEqual(16);
    expect(r.SMTP.SMTPPassword).not.toBe(smtp.password);
  });

  it('replaces the stored hash with the SHA-256 of the new password, keeping the username', async () => {
    const { u, smtp } = await ownerWithSmtp();
    const before = await smtpRow(smtp.id);
    expect(before.password_hash).toBe(sha256(smtp.password));
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: smtp.id });
    const after = await smtpRow(smtp.id);
    expect(after.password_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(after.password_hash).toBe(sha256(r.SMTP.SMTPPassword));
    expect(after.password_hash).not.toBe(before.password_hash);
    expect(after.username).toBe(smtp.username);
    for (const value of Object.values(after)) expect(String(value)).not.toContain(r.SMTP.SMTPPassword);
  });

  it('gives a different password on every reset', async () => {
    const { u, smtp } = await ownerWithSmtp();
    const seen = new Set([smtp.password]);
    for (let i = 0; i < 3; i++) {
      const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: smtp.id });
      expect(r.Success).toBe(true);
      seen.add(r.SMTP.SMTPPassword);
      expect((await smtpRow(smtp.id)).password_hash).toBe(sha256(r.SMTP.SMTPPassword));
    }
    expect(seen.size).toBe(4);
  });

  it('changes only the named credentials; the others of the domain keep their hash', async () => {
    const { u, domainId, smtp } = await ownerWithSmtp();
    const sibling = await addSmtp(u.sessionId, domainId);
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: smtp.id });
    expect(r.Success).toBe(true);
    expect(await smtpRow(sibling.id)).toMatchObject({ username: sibling.username, password_hash: sha256(sibling.password) });
  });

  it('does not show the new password in getsmtps', async () => {
    const { u, domainId, smtp } = await ownerWithSmtp();
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: smtp.id });
    const list = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(list.SMTPs).toHaveLength(1);
    expect(list.SMTPs[0]).not.toHaveProperty('SMTPPassword');
    expect(JSON.stringify(list)).not.toContain(r.SMTP.SMTPPassword);
  });

  it('answers ErrorCode [1] when SMTPID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (SMTPID)'] });
  });

  it('answers ErrorCode 2 for credentials that do not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: u.sessionId, SMTPID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode 2 for SMTP credentials of another user, exactly as for missing ones, and keeps their password', async () => {
    const { u, smtp } = await ownerWithSmtp();
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: other.sessionId, SMTPID: smtp.id });
    const missing = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: other.sessionId, SMTPID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    const row = await smtpRow(smtp.id);
    expect(row).toMatchObject({ username: smtp.username, password_hash: sha256(smtp.password) });
    expect(Number(row.user_id)).toBe(u.userId);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and keeps the password', async () => {
    const { smtp } = await ownerWithSmtp();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.resetsmtppassword', SMTPID: smtp.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRow(smtp.id)).toMatchObject({ password_hash: sha256(smtp.password) });
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and keeps the password', async () => {
    const { smtp } = await ownerWithSmtp();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.resetsmtppassword', SessionID: 'bogus-session', SMTPID: smtp.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRow(smtp.id)).toMatchObject({ password_hash: sha256(smtp.password) });
  });
});
