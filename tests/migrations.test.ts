import { migrationSource } from '../migrations';
import crypto from 'node:crypto';
import { Harness, senderSetup, startHarness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('migrations', () => {
  it('apply, roll back completely and apply again on this backend', async () => {
    const db = h.services.db;
    expect(await db.schema.hasTable('sender_domains')).toBe(true);
    await db.migrate.rollback({ migrationSource }, true);
    for (const t of ['users', 'sessions', 'sender_domains', 'domain_api_keys', 'smtp_credentials', 'user_api_keys']) {
      expect(await db.schema.hasTable(t)).toBe(false);
    }
    const [, applied] = await db.migrate.latest({ migrationSource });
    expect(applied).toEqual(await migrationSource.getMigrations([]));
    expect(await db('user_groups').where({ id: 1 }).first()).toMatchObject({ name: 'Default', permissions: '*' });
  }, 60_000);

  it("index a campaign's messages by (campaign_id, id): campaign.cancel's pages are range reads, not a sort of the whole campaign", async () => {
    const db = h.services.db;
    const mysql = db.client.config.client === 'mysql2';
    const columns = mysql
      ? (await db.raw("show index from messages where Key_name = 'messages_campaign_id_idx'"))[0].map((r: any) => r.Column_name)
      : (await db.raw("pragma index_info('messages_campaign_id_idx')")).map((r: any) => r.name);
    expect(columns).toEqual(['campaign_id', 'id']);
    // A campaign of 2,000 messages (the optimizer's choice depends on the rows there are), written in bulk.
    const s = await senderSetup(h);
    const now = Date.now();
    for (let i = 0; i < 2000; i += 200) {
      const rows = Array.from({ length: 200 }, (_, j) => ({
        id: crypto.randomUUID(),
        user_id: s.userId,
        domain_id: s.domainId,
        from_email: `a@${s.domain}`,
        tags: '[]',
        message_id_header: `<${i + j}@x>`,
        mime: Buffer.alloc(0),
        mime_size: 0,
        subscriber_id: i + j,
        campaign_id: 7,
        created_at: now,
      }));
      await db('messages').insert(rows);
    }
    if (mysql) await db.raw('analyze table messages');
    else await db.raw('analyze');
    const page = 'select id from messages where campaign_id = 7 and id > ? order by id limit 500';
    const plan = JSON.stringify(mysql ? (await db.raw(`explain ${page}`, ['']))[0] : await db.raw(`explain query plan ${page}`, ['']));
    expect(plan).toContain('messages_campaign_id_idx');
    expect(plan).not.toMatch(/filesort|TEMP B-TREE/i);
  });

  it('are a no-op when already applied (several processes may start at once)', async () => {
    const [, applied] = await h.services.db.migrate.latest({ migrationSource });
    expect(applied).toEqual([]);
  });
});
