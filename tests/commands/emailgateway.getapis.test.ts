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

async function addKey(sessionId: string, domainId: number, description: string): Promise<{ id: number; key: string }> {
  const r = await h.call({ Command: 'emailgateway.addapi', SessionID: sessionId, Description: description, DomainID: domainId });
  if (!r.Success) throw new Error(`addapi failed: ${JSON.stringify(r)}`);
  return { id: r.NewAPIKeyID, key: r.APIKey.APIKey };
}

async function ownerWithDomain() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  return { u, domainId };
}

describe('emailgateway.getapis', () => {
  it('shows LastUsedAt once a key has been used (null before); a wrong key touches nothing', async () => {
    const { u, domainId } = await ownerWithDomain();
    const used = await addKey(u.sessionId, domainId, 'used');
    const idle = await addKey(u.sessionId, domainId, 'idle');
    const list = async () => (await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId })).APIKeys;
    expect((await list()).map((k: { LastUsedAt: unknown }) => k.LastUsedAt)).toEqual([null, null]);
    const res = await h.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${used.key}` } });
    expect(res.status).toBe(200);
    const [a, b] = await list();
    expect(a.LastUsedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(b.LastUsedAt).toBeNull();
    await h.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${idle.key}x` } });
    expect((await list())[1].LastUsedAt).toBeNull();
  });

  it('lists the domain keys in the contract shape, in creation order, with the key masked', async () => {
    const { u, domainId } = await ownerWithDomain();
    const a = await addKey(u.sessionId, domainId, 'first');
    const b = await addKey(u.sessionId, domainId, 'second');
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      APIKeys: [
        { APIKeyID: a.id, Description: 'first', DomainID: domainId },
        { APIKeyID: b.id, Description: 'second', DomainID: domainId },
      ],
    });
    expect(r.APIKeys).toHaveLength(2);
    [a, b].forEach((k, i) => {
      const shown: string = r.APIKeys[i].APIKey;
      expect(shown).toMatch(/^eg_live_\*+[A-Za-z0-9]{4}$/);
      expect(shown.slice(-4)).toBe(k.key.slice(-4));
      expect(shown).not.toBe(k.key);
    });
  });

  it('never includes a full key anywhere in the reply', async () => {
    const { u, domainId } = await ownerWithDomain();
    const a = await addKey(u.sessionId, domainId, 'secret one');
    const b = await addKey(u.sessionId, domainId, 'secret two');
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(r.Success).toBe(true);
    const text = JSON.stringify(r);
    for (const k of [a, b]) {
      expect(text).not.toContain(k.key);
      expect(text).not.toContain(k.key.slice(8, 36));
      expect(text).not.toContain(sha256(k.key));
    }
  });

  it('lists only the keys of the asked domain', async () => {
    const u = await createUser(h);
    const d1 = await addDomain(h, u.sessionId, uniqueDomain());
    const d2 = await addDomain(h, u.sessionId, uniqueDomain());
    const k1 = await addKey(u.sessionId, d1, 'on d1');
    await addKey(u.sessionId, d2, 'on d2');
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: d1 });
    expect(r.APIKeys).toHaveLength(1);
    expect(r.APIKeys[0]).toMatchObject({ APIKeyID: k1.id, Description: 'on d1', DomainID: d1 });
  });

  it('answers an empty APIKeys list for a domain without keys', async () => {
    const { u, domainId } = await ownerWithDomain();
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(r).toEqual({ Success: true, ErrorCode: 0, APIKeys: [] });
  });

  it('answers ErrorCode [1] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
  });

  it('answers ErrorCode 2 for a domain that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: 987654321 });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
  });

  it('answers ErrorCode 2 for a domain of another user, exactly as for a missing one, and leaves its keys alone', async () => {
    const { u, domainId } = await ownerWithDomain();
    const k = await addKey(u.sessionId, domainId, 'owned');
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.getapis', SessionID: other.sessionId, DomainID: domainId });
    const missing = await h.call({ Command: 'emailgateway.getapis', SessionID: other.sessionId, DomainID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    const rows = await keyRows(domainId);
    expect(rows.map((r: any) => [Number(r.id), r.key_hash])).toEqual([[k.id, sha256(k.key)]]);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getapis', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID', async () => {
    const { domainId } = await ownerWithDomain();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.getapis', SessionID: 'bogus-session', DomainID: domainId } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
  });
});
