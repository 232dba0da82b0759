/**
 * Ids through /api.php (JSON and form): an integer or a string of decimal digits names an object; `true`, hex, binary,
 * exponent or decimal-point forms are refused with the id's invalid-value code instead of being coerced into a
 * number that names one of the caller's objects (src/validation.ts, nonDecimalIdCodes).
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('refuses an id written as true, hex, binary, an exponent or a decimal, and deletes nothing; digits still work', async () => {
  const s = await senderSetup(h);
  // Code 13 is the sender door's "Invalid SenderAPIKey".
  const keyWorks = async () =>
    !JSON.stringify((await h.request('GET', '/api/v1/email/none', { headers: { Authorization: `Bearer ${s.key}` } })).body).includes('"Code":13');
  const del = (APIKeyID: unknown) => h.call({ Command: 'emailgateway.deleteapi', SessionID: s.sessionId, APIKeyID });
  const asForm = (APIKeyID: string) =>
    h.request('GET', '/api.php', { query: { Command: 'emailgateway.deleteapi', SessionID: s.sessionId, APIKeyID, ResponseFormat: 'JSON' } });
  const hex = `0x${s.keyId.toString(16)}`;
  for (const v of [true, hex, `0b${s.keyId.toString(2)}`, `${s.keyId}e0`, `${s.keyId}.0`]) {
    expect({ v, r: await del(v) }).toMatchObject({ v, r: { Success: false, ErrorCode: [2] } });
  }
  expect((await asForm(hex)).body).toMatchObject({ Success: false, ErrorCode: [2] });
  expect(await keyWorks()).toBe(true);
  // A missing id keeps its own code; a decimal string, as form posts send every value, deletes.
  expect(await del(undefined)).toMatchObject({ Success: false, ErrorCode: [1] });
  expect(await del(` ${s.keyId} `)).toMatchObject({ Success: true });
  expect(await keyWorks()).toBe(false);
});
