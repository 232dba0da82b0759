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
const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const keyRows = (domainId: number) => h.services.db('domain_api_keys').where({ domain_id: domainId }).orderBy('id');

async function ownerWithDomain() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  return { u, domainId };
}

describe('emailgateway.addapi', () => {
  it('issues a sender key in the contract shape, shown in full', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'Production API Key', DomainID: domainId });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      APIKey: { Description: 'Production API Key', DomainID: domainId },
    });
    expect(typeof r.NewAPIKeyID).toBe('number');
    expect(r.NewAPIKeyID).toBeGreaterThan(0);
    expect(r.APIKey.APIKeyID).toBe(r.NewAPIKeyID);
    expect(r.APIKey.APIKey).toMatch(/^eg_live_[A-Za-z0-9]{32}$/);
    expect(r.APIKey.APIKey).not.toContain('*');
  });

  it('accepts DomainID sent as a numeric string', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'string id', DomainID: String(domainId) });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, APIKey: { DomainID: domainId, Description: 'string id' } });
  });

  it('stores only the SHA-256 hex of the key, never the key itself', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'hashed', DomainID: domainId });
    const key: string = r.APIKey.APIKey;
    const rows = await keyRows(domainId);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(Number(row.id)).toBe(r.NewAPIKeyID);
    expect(Number(row.user_id)).toBe(u.userId);
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.key_hash).toBe(sha256(key));
    expect(row.key_last4).toBe(key.slice(-4));
    expect(row.description).toBe('hashed');
    expect(row.status).toBe('Enabled');
    for (const value of Object.values(row)) {
      expect(String(value)).not.toContain(key);
      expect(String(value)).not.toContain(key.slice(8));
    }
  });

  it('issues a different key, id and hash on every call', async () => {
    const { u, domainId } = await ownerWithDomain();
    const replies = [];
    for (let i = 0; i < 3; i++) {
      replies.push(await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: `key ${i}`, DomainID: domainId }));
    }
    for (const r of replies) expect(r.Success).toBe(true);
    expect(new Set(replies.map((r) => r.APIKey.APIKey)).size).toBe(3);
    expect(new Set(replies.map((r) => r.NewAPIKeyID)).size).toBe(3);
    const rows = await keyRows(domainId);
    expect(rows.map((row: any) => row.key_hash).sort()).toEqual(replies.map((r) => sha256(r.APIKey.APIKey)).sort());
  });

  it('answers ErrorCode [1] when Description is missing, and creates nothing', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (Description)'] });
    expect(await keyRows(domainId)).toHaveLength(0);
  });

  it('answers ErrorCode [1] when Description is empty', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: '', DomainID: domainId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (Description)'] });
    expect(await keyRows(domainId)).toHaveLength(0);
  });

  it('answers ErrorCode [1] when Description is longer than 255 characters', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'x'.repeat(256), DomainID: domainId });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await keyRows(domainId)).toHaveLength(0);
  });

  it('answers ErrorCode [2] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'no domain' });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Missing required parameter (DomainID)'] });
  });

  it('answers ErrorCode [1, 2] when both Description and DomainID are missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId });
    expect(r).toEqual({
      Success: false,
      ErrorCode: [1, 2],
      ErrorText: ['Missing required parameter (Description)', 'Missing required parameter (DomainID)'],
    });
  });

  it('answers ErrorCode 3 for a domain that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, Description: 'ghost', DomainID: 987654321 });
    expect(r).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Domain not found or access denied' });
  });

  it('answers ErrorCode 3 for a domain of another user, exactly as for a missing one, and adds no key to it', async () => {
    const { domainId } = await ownerWithDomain();
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.addapi', SessionID: other.sessionId, Description: 'steal', DomainID: domainId });
    const missing = await h.call({ Command: 'emailgateway.addapi', SessionID: other.sessionId, Description: 'steal', DomainID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Domain not found or access denied' });
    expect(await keyRows(domainId)).toHaveLength(0);
    expect(await h.services.db('domain_api_keys').where({ user_id: other.userId })).toHaveLength(0);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and creates nothing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.addapi', Description: 'anon', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await keyRows(domainId)).toHaveLength(0);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and creates nothing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', {
      body: { Command: 'emailgateway.addapi', SessionID: 'not-a-session', Description: 'anon', DomainID: domainId },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await keyRows(domainId)).toHaveLength(0);
  });
});
