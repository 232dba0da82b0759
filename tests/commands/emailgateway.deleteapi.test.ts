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
const NOT_FOUND = { Success: false, ErrorCode: 2, ErrorText: 'API Key not found or access denied' };
const sha256 = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const keyRow = (id: number) => h.services.db('domain_api_keys').where({ id }).first();

async function addKey(sessionId: string, domainId: number, description: string): Promise<{ id: number; key: string }> {
  const r = await h.call({ Command: 'emailgateway.addapi', SessionID: sessionId, Description: description, DomainID: domainId });
  if (!r.Success) throw new Error(`addapi failed: ${JSON.stringify(r)}`);
  return { id: r.NewAPIKeyID, key: r.APIKey.APIKey };
}

async function ownerWithKey() {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain());
  const key = await addKey(u.sessionId, domainId, 'to delete');
  return { u, domainId, key };
}

describe('emailgateway.deleteapi', () => {
  it('deletes the key and answers the contract success reply', async () => {
    const { u, domainId, key } = await ownerWithKey();
    const r = await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: key.id });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    expect(await keyRow(key.id)).toBeUndefined();
    expect(
      await h.services
        .db('domain_api_keys')
        .where({ key_hash: sha256(key.key) })
        .first(),
    ).toBeUndefined();
    const list = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(list).toMatchObject({ Success: true, APIKeys: [] });
  });

  it('deletes only the named key; the other keys of the domain survive', async () => {
    const { u, domainId, key } = await ownerWithKey();
    const keep = await addKey(u.sessionId, domainId, 'keep me');
    const r = await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: key.id });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    const kept = await keyRow(keep.id);
    expect(kept).toMatchObject({ key_hash: sha256(keep.key), description: 'keep me' });
    const list = await h.call({ Command: 'emailgateway.getapis', SessionID: u.sessionId, DomainID: domainId });
    expect(list.APIKeys.map((k: any) => k.APIKeyID)).toEqual([keep.id]);
  });

  it('answers ErrorCode 2 when the same key is deleted twice', async () => {
    const { u, key } = await ownerWithKey();
    expect(await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: key.id })).toEqual({ Success: true, ErrorCode: 0 });
    expect(await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: key.id })).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode [1] when APIKeyID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (APIKeyID)'] });
  });

  it('answers ErrorCode 2 for a key that does not exist', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: 987654321 });
    expect(r).toEqual(NOT_FOUND);
  });

  it('answers ErrorCode [2] for a malformed APIKeyID', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.deleteapi', SessionID: u.sessionId, APIKeyID: 'abc' });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['API Key not found or access denied'] });
  });

  it('answers ErrorCode 2 for a key of another user, exactly as for a missing one, and keeps the key', async () => {
    const { u, domainId, key } = await ownerWithKey();
    const other = await createUser(h);
    const foreign = await h.call({ Command: 'emailgateway.deleteapi', SessionID: other.sessionId, APIKeyID: key.id });
    const missing = await h.call({ Command: 'emailgateway.deleteapi', SessionID: other.sessionId, APIKeyID: 987654321 });
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual(NOT_FOUND);
    const row = await keyRow(key.id);
    expect(row).toMatchObject({ key_hash: sha256(key.key), description: 'to delete', status: 'Enabled' });
    expect(Number(row.user_id)).toBe(u.userId);
    expect(Number(row.domain_id)).toBe(domainId);
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 when SessionID is missing, and keeps the key', async () => {
    const { key } = await ownerWithKey();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.deleteapi', APIKeyID: key.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await keyRow(key.id)).toMatchObject({ key_hash: sha256(key.key) });
  });

  it('answers ErrorCode 99998 (scalar) with HTTP 200 for an invalid SessionID, and keeps the key', async () => {
    const { key } = await ownerWithKey();
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.deleteapi', SessionID: 'bogus-session', APIKeyID: key.id } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: AUTH_TEXT });
    expect(await keyRow(key.id)).toMatchObject({ key_hash: sha256(key.key) });
  });
});
