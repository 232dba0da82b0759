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
const NOT_FOUND = { Success: false, ErrorCode: 3, ErrorText: 'Domain not found or access denied' };
const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const keyRows = (domainId: number) => h.services.db('domain_api_keys').where({ domain_id: domainId }).orderBy('id');
const snapshot = async (domainId: number) => (await keyRows(domainId)).map((r: any) => [Number(r.id), r.key_hash, r.description]);

async function addKey(sessionId: string, domainId: number, description: string): Promise<{ id: number; key: string }> {
  const r = await h.call({ Command: 'emailgateway.addapi', SessionID: sessionId, Description: description, DomainID: domainId });
  if (!r.Success) throw new Error(`addapi failed: ${JSON.stringify(r)}`);
  return { id: r.NewAPIKeyID, key: r.APIKey.APIKey };
}

async function ownerWithKeys(n: number) {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  const keys = [];
  for (let i = 0; i < n; i++) keys.push(await addKey(u.sessionId, domainId, `old ${i}`));
  return { u, domainId, keys };
}

describe('emailgateway.replaceapi', () => {
  it('answers a new full key in the addapi shape', async () => {
    const { u, domainId } = await ownerWithKeys(1);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'Rotated key', DomainID: domainId });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, APIKey: { Description: 'Rotated key', DomainID: domainId } });
    expect(typeof r.NewAPIKeyID).toBe('number');
    expect(r.APIKey.APIKeyID).toBe(r.NewAPIKeyID);
    expect(r.APIKey.APIKey).toMatch(/^eg_live_[A-Za-z0-9]{32}$/);
  });

  it('removes every previous key of the domain and leaves exactly the one new key, stored as its SHA-256', async () => {
    const { u, domainId, keys } = await ownerWithKeys(3);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'only one', DomainID: domainId });
    expect(r.Success).toBe(true);
    const rows = await keyRows(domainId);
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].id)).toBe(r.NewAPIKeyID);
    expect(rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].key_hash).toBe(sha256(r.APIKey.APIKey));
    expect(rows[0].description).toBe('only one');
    for (const value of Object.values(rows[0])) expect(String(value)).not.toContain(r.APIKey.APIKey);
    for (const old of keys) {
      expect(r.NewAPIKeyID).not.toBe(old.id);
      expect(r.APIKey.APIKey).not.toBe(old.key);
      expect(await h.services.db('domain_api_keys').where({ id: old.id }).first()).toBeUndefined();
      expect(
        await h.services
          .db('domain_api_keys')
          .where({ key_hash: sha256(old.key) })
          .first(),
      ).toBeUndefined();
    }
    const list = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(list.APIKeys).toHaveLength(1);
    expect(list.APIKeys[0]).toMatchObject({ APIKeyID: r.NewAPIKeyID, Description: 'only one', DomainID: domainId });
    expect(list.APIKeys[0].APIKey).toMatch(/^eg_live_\*+[A-Za-z0-9]{4}$/);
    expect(list.APIKeys[0].APIKey.slice(-4)).toBe(r.APIKey.APIKey.slice(-4));
  });

  it("leaves the keys of the same user's other domains alone", async () => {
    const { u, domainId } = await ownerWithKeys(2);
    const otherDomain = await addDomain(h, u.sessionId, uniqueDomain());
    const survivor = await addKey(u.sessionId, otherDomain, 'other domain');
    const before = await snapshot(otherDomain);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'rotated', DomainID: domainId });
    expect(r.Success).toBe(true);
    expect(await snapshot(otherDomain)).toEqual(before);
    expect(before).toEqual([[survivor.id, sha256(survivor.key), 'other domain']]);
  });

  it('issues one key for a domain that had none', async () => {
    const { u, domainId } = await ownerWithKeys(0);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'first', DomainID: domainId });
    expect(r.Success).toBe(true);
    expect(await snapshot(domainId)).toEqual([[r.NewAPIKeyID, sha256(r.APIKey.APIKey), 'first']]);
  });

  it('issues a different key every time and still keeps exactly one', async () => {
    const { u, domainId } = await ownerWithKeys(1);
    const a = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'a', DomainID: domainId });
    const b = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'b', DomainID: domainId });
    expect(a.Success && b.Success).toBe(true);
    expect(b.APIKey.APIKey).not.toBe(a.APIKey.APIKey);
    expect(b.NewAPIKeyID).not.toBe(a.NewAPIKeyID);
    expect(await snapshot(domainId)).toEqual([[b.NewAPIKeyID, sha256(b.APIKey.APIKey), 'b']]);
  });

  it('answers ErrorCode [1] when Description is missing, and keeps the old keys', async () => {
    const { u, domainId } = await ownerWithKeys(2);
    const before = await snapshot(domainId);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (Description)'] });
    expect(await snapshot(domainId)).toEqual(before);
  });

  it('answers ErrorCode [2] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'x' });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Missing required parameter (DomainID)'] });
  });

  it('answers ErrorCode [1, 2] when both Description and DomainID are missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId });
    expect(r).toEqual({
      Success: false,
      ErrorCode: [1, 2],
      ErrorText: ['Missing required parameter (Description)', 'Missing required parameter (DomainID)'],
    });
  });

  it('answers ErrorCode 3 for a domain that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.replaceapi', SessionID: u.sessionId, Description: 'x', DomainID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it("answers ErrorCode 3 for a domain of another user, exactly as for a missing one, and keeps the owner's keys", async () => {
    const { domainId } = await ownerWithKeys(2);
    const before = await snapshot(domainId);
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.replaceapi', SessionID: other.sessionId, Description: 'hijack', DomainID: domainId });
    const missing = await h.call({ Command: 'emailgateway.replaceapi', SessionID: other.sessionId, Description: 'hijack', DomainID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    expect(await snapshot(domainId)).toEqual(before);
    expect(await h.services.db('domain_api_keys').where({ user_id: other.userId })).toHaveLength(0);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and keeps the keys', async () => {
    const { domainId } = await ownerWithKeys(1);
    const before = await snapshot(domainId);
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.replaceapi', Description: 'x', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await snapshot(domainId)).toEqual(before);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and keeps the keys', async () => {
    const { domainId } = await ownerWithKeys(1);
    const before = await snapshot(domainId);
    const res = await h.request('POST', '/api.php', {
      body: { Command: 'emailgateway.replaceapi', SessionID: 'bogus-session', Description: 'x', DomainID: domainId },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await snapshot(domainId)).toEqual(before);
  });
});
