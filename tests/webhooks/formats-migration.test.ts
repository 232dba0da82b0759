/**
 * The webhook-formats migration on an install that already has webhooks: their queued calls and logs survive
 * (on SQLite the table is rebuilt to make domain_id nullable), the foreign keys still cascade, and an
 * account-wide row (domain_id null) can be stored afterwards.
 */
import { migrationSource } from '../../migrations';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

const NAME = '20261204000300_webhook_formats';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('webhook formats migration', () => {
  it('keeps existing webhooks, their outbox rows and attempts, and their cascades', async () => {
    const db = h.services.db;
    const s = await senderSetup(h);
    await db.migrate.down({ migrationSource, name: NAME });
    expect(await db.schema.hasColumn('webhooks', 'format')).toBe(false);
    const now = Date.now();
    const [hookId] = await db('webhooks').insert({
      user_id: s.userId,
      domain_id: s.domainId,
      event: 'delivered',
      url: 'https://example.com/h',
      status: 'Enabled',
      created_at: now,
      updated_at: now,
    });
    await db('webhook_deliveries').insert({
      webhook_id: hookId,
      event_id: 'evt_1',
      event_type: 'delivered',
      payload: '{}',
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    });
    await db('webhook_attempts').insert({ webhook_id: hookId, event_id: 'evt_0', event_type: 'delivered', attempt: 1, result: 'delivered', at: now });

    await db.migrate.up({ migrationSource, name: NAME });
    expect(await db('webhooks').where({ id: hookId }).first()).toMatchObject({ event: 'delivered', format: 'standard', secret_enc: null });
    expect(await db('webhook_deliveries').where({ webhook_id: hookId })).toHaveLength(1);
    expect(await db('webhook_attempts').where({ webhook_id: hookId })).toHaveLength(1);

    const [accountWide] = await db('webhooks').insert({
      user_id: s.userId,
      domain_id: null,
      event: 'delivered,opened',
      url: 'https://example.com/a',
      format: 'cloudmails',
      secret_enc: 'x',
      status: 'Enabled',
      created_at: now,
      updated_at: now,
    });
    expect(await db('webhooks').where({ id: accountWide }).first()).toMatchObject({ domain_id: null, event: 'delivered,opened' });
    // Deleting the domain still takes its webhook and that webhook's queue; deleting the user takes the rest.
    await db('sender_domains').where({ id: s.domainId }).delete();
    expect(await db('webhooks').where({ id: hookId }).first()).toBeUndefined();
    expect(await db('webhook_deliveries').where({ webhook_id: hookId })).toHaveLength(0);
    await db('users').where({ id: s.userId }).delete();
    expect(await db('webhooks').where({ id: accountWide }).first()).toBeUndefined();
  });
});
