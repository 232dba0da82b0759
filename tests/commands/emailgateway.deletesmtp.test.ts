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

describe('emailgateway.deletesmtp', () => {
  it('deletes the credentials and answers the contract success reply', async () => {
    const { u, domainId, smtp } = await ownerWithSmtp();
    const r = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: smtp.id });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    expect(await smtpRow(smtp.id)).toBeUndefined();
    expect(await h.services.db('smtp_credentials').where({ username: smtp.username }).first()).toBeUndefined();
    const list = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(list).toMatchObject({ Success: true, SMTPs: [] });
  });

  it('deletes only the named credentials; the others of the domain survive', async () => {
    const { u, domainId, smtp } = await ownerWithSmtp();
    const keep = await addSmtp(u.sessionId, domainId);
    const r = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: smtp.id });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    expect(await smtpRow(keep.id)).toMatchObject({ username: keep.username, password_hash: sha256(keep.password) });
    const list = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
    expect(list.SMTPs.map((s: any) => s.SMTPID)).toEqual([keep.id]);
  });

  it('answers ErrorCode 2 when the same credentials are deleted twice', async () => {
    const { u, smtp } = await ownerWithSmtp();
    expect(await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: smtp.id })).toEqual({ Success: true, ErrorCode: 0 });
    expect(await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: smtp.id })).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode [1] when SMTPID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (SMTPID)'] });
  });

  it('answers ErrorCode 2 for credentials that do not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode [2] for a malformed SMTPID', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: u.sessionId, SMTPID: 'abc' });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['SMTP credentials not found or access denied'] });
  });

  it('answers ErrorCode 2 for SMTP credentials of another user, exactly as for missing ones, and keeps them', async () => {
    const { u, domainId, smtp } = await ownerWithSmtp();
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: other.sessionId, SMTPID: smtp.id });
    const missing = await h.call({ Command: 'emailgateway.deletesmtp', SessionID: other.sessionId, SMTPID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    const row = await smtpRow(smtp.id);
    expect(row).toMatchObject({ username: smtp.username, password_hash: sha256(smtp.password), status: 'Enabled' });
    expect(Number(row.user_id)).toBe(u.userId);
    expect(Number(row.domain_id)).toBe(domainId);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and keeps the credentials', async () => {
    const { smtp } = await ownerWithSmtp();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.deletesmtp', SMTPID: smtp.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRow(smtp.id)).toMatchObject({ password_hash: sha256(smtp.password) });
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and keeps the credentials', async () => {
    const { smtp } = await ownerWithSmtp();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.deletesmtp', SessionID: 'bogus-session', SMTPID: smtp.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await smtpRow(smtp.id)).toMatchObject({ password_hash: sha256(smtp.password) });
  });
});
