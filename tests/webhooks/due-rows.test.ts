/**
 * The webhook worker's window of due rows (src/webhooks/due-rows.ts) on the real store: oldest first, at most
 * `eachAccount` per account across its webhooks, `limit` in all; rows leased by a live worker, not yet due or
 * finished are left out. The fair-share behaviour it serves is driven end to end in worker.test.ts.
 */
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { dueRows } from '../../src/webhooks/due-rows';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** A new account with a domain and `n` webhooks on it; their ids. */
async function accountHooks(n: number): Promise<{ userId: number; hooks: number[] }> {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, uniqueDomain('due'));
  const now = Date.now();
  const hooks: number[] = [];
  for (let i = 0; i < n; i++) {
    const [id] = await h.services
      .db('webhooks')
      .insert({ user_id: u.userId, domain_id: domainId, event: 'delivered', url: 'http://127.0.0.1:9/', created_at: now, updated_at: now });
    hooks.push(Number(id));
  }
  return { userId: u.userId, hooks };
}

/** Inserts one outbox row and returns its id; `label` goes into the payload so a failure names the row. */
async function row(webhookId: number, label: string, nextAttemptAt: number, fields: Record<string, unknown> = {}): Promise<number> {
  const [id] = await h.services.db('webhook_deliveries').insert({
    webhook_id: webhookId,
    event_id: `evt_${label}_${webhookId}`,
    event_type: 'delivered',
    payload: JSON.stringify({ label }),
    status: 'pending',
    attempts: 2,
    next_attempt_at: nextAttemptAt,
    created_at: nextAttemptAt,
    updated_at: nextAttemptAt,
    ...fields,
  });
  return Number(id);
}

const labels = (rows: { payload: string }[]) => rows.map((r) => JSON.parse(r.payload).label);

it('takes the oldest due rows, at most eachAccount of an account across its webhooks, and leaves out leased, future and finished rows', async () => {
  const a = await accountHooks(2);
  const b = await accountHooks(1);
  const c = await accountHooks(1);
  const now = Date.now();
  const t0 = now - 100_000;
  const [a1, a2] = a.hooks;
  for (const k of [1, 2, 3, 4, 5, 6]) await row(a1, `a1@${k * 10}`, t0 + k * 10);
  for (const k of [15, 25, 35]) await row(a2, `a2@${k}`, t0 + k);
  await row(a2, 'a2-future', now + 60_000);
  await row(a1, 'a1-delivered', t0, { status: 'delivered' });
  await row(a1, 'a1-failed', t0, { status: 'failed' });
  await row(b.hooks[0], 'b@5', t0 + 5);
  await row(b.hooks[0], 'b@10', t0 + 10); // the same time as a1@10, a later id: after it
  await row(c.hooks[0], 'c-leased', t0, { lease_until: now + 60_000, lease_owner: 'another worker' });
  await row(c.hooks[0], 'c-lease-ran-out@1', t0 + 1, { lease_until: now - 1, lease_owner: 'a dead worker' });

  const six = await dueRows(h.services.db, 4, 6, now);
  expect(labels(six)).toEqual(['c-lease-ran-out@1', 'b@5', 'a1@10', 'b@10', 'a2@15', 'a1@20']);

  const all = await dueRows(h.services.db, 4, 100, now);
  // Account a stops at 4 (a1@10, a2@15, a1@20, a2@25); its later rows (a1@30 on) wait for a free share.
  expect(labels(all)).toEqual(['c-lease-ran-out@1', 'b@5', 'a1@10', 'b@10', 'a2@15', 'a1@20', 'a2@25']);
  const first = all[2];
  expect(first).toMatchObject({ webhook_id: a1, event_id: `evt_a1@10_${a1}`, event_type: 'delivered', user_id: a.userId });
  expect(Number(first.attempts)).toBe(2);
  expect(all.find((r) => r.webhook_id === c.hooks[0])!.user_id).toBe(c.userId);

  // Before any of them was due, nothing.
  expect(await dueRows(h.services.db, 4, 100, t0 - 1)).toEqual([]);
});

it('reads the windows of more webhooks than one statement holds', async () => {
  const x = await accountHooks(57);
  const y = await accountHooks(3);
  const t0 = Date.now() - 10_000_000; // before every row of the first test, so only this test's rows are due
  const far = t0 + 1000;
  let k = 0;
  for (const hook of [...x.hooks, ...y.hooks]) await row(hook, `w${k}`, t0 + k++);
  const rows = await dueRows(h.services.db, 100, 100, far);
  expect(labels(rows)).toEqual(Array.from({ length: 60 }, (_, i) => `w${i}`));
  expect(rows.filter((r) => r.user_id === y.userId).map((r) => r.webhook_id)).toEqual(y.hooks);
  // The cap still holds across statements: 57 webhooks of one account, 5 rows.
  expect(labels(await dueRows(h.services.db, 5, 100, far))).toEqual(['w0', 'w1', 'w2', 'w3', 'w4', 'w57', 'w58', 'w59']);
});
