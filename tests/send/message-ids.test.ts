/**
 * The API's message ids are UUIDv7s of the accept time, from the Services' generator (src/mail/row-ids.ts): a later
 * send's ids are greater, so stored messages append to their primary key (bench/README, 2026-12-04: e2e +25 %).
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('answers UUIDv7 MessageIDs of the accept time, a later send greater than an earlier one, single and batch alike', async () => {
  const s = await senderSetup(h);
  const auth = { Authorization: `Bearer ${s.key}` };
  const msg = (i: number) => ({
    From: { email: `app@${s.domain}` },
    To: [{ email: `r${i}@dest.test` }],
    Subject: `ids ${i}`,
    ContentType: 'plain',
    PlainContent: 'b',
  });
  const started = Date.now();
  const single = await h.request('POST', '/api/v1/email', { headers: auth, body: msg(0) });
  expect(single.status).toBe(200);
  const first: string = single.body.MessageID;
  const batch = await h.request('POST', '/api/v1/email/batch', { headers: auth, body: { Messages: [msg(1), msg(2), msg(3)] } });
  expect(batch.status).toBe(200);
  const later: string[] = batch.body.Results.map((r: { MessageID: string }) => r.MessageID);
  const ended = Date.now();
  for (const id of [first, ...later]) {
    expect(id).toMatch(V7);
    expect(msOf(id)).toBeGreaterThanOrEqual(started);
    expect(msOf(id)).toBeLessThanOrEqual(ended);
  }
  expect(new Set(later).size).toBe(3);
  for (const id of later) expect(id > first).toBe(true);
  // Stored under those ids.
  const rows = await h.services
    .db('messages')
    .whereIn('id', [first, ...later])
    .orderBy('id')
    .pluck('subject');
  expect(rows[0]).toBe('ids 0');
  expect([...rows].sort()).toEqual(['ids 0', 'ids 1', 'ids 2', 'ids 3']);
});
