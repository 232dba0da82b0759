import { migrationSource } from '../migrations';
import crypto from 'node:crypto';
import { createLeaseSettle } from '../src/delivery/lease-settle';
import { shownStatus } from '../src/delivery/leased';
import { leaseOwner } from '../src/lease-owner';
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

  it("give deliveries written before fixed-width leases (NULL lease, owner, finish) 0 and '': still queued, shown unfinished, leased", async () => {
    const db = h.services.db;
    // Back to the schema before 20270106000100, where a new delivery's lease columns and finish are NULL.
    // It and the ones after it (20270107000100_quota_refund_tokens, 20270108000100_lease_index) are rolled back, one by one,
    // and applied again.
    const all = await migrationSource.getMigrations([]);
    const since = all.slice(all.indexOf('20270106000100_fixed_width_lease'));
    expect(since[0]).toBe('20270106000100_fixed_width_lease');
    for (let i = 0; i < since.length; i++) await db.migrate.down({ migrationSource });
    const s = await senderSetup(h);
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: { Subject: 'old row', ContentType: 'plain', PlainContent: 'x', From: { email: `a@${s.domain}` }, To: [{ email: 'old@recipient.test' }] },
    });
    expect(res.status).toBe(200);
    const id: string = res.body.MessageID;
    const row = () => db('deliveries').where({ message_id: id }).first('id', 'status', 'lease_until', 'lease_owner', 'finished_at');
    expect(await row()).toMatchObject({ status: 'queued', lease_until: null, lease_owner: null, finished_at: null });

    const [, applied] = await db.migrate.latest({ migrationSource });
    expect(applied).toEqual(since);
    const migrated = await row();
    expect({ ...migrated, lease_until: Number(migrated.lease_until), finished_at: Number(migrated.finished_at) }).toEqual({
      id: migrated.id,
      status: 'queued',
      lease_until: 0,
      lease_owner: '',
      finished_at: 0,
    });
    const shown = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(shown.body.Recipients[0]).toMatchObject({ Status: 'queued', FinishedAt: null, LastReply: null });
    // A worker takes it as any other due, unleased row.
    // Its owner column is now one-byte CHAR: a host name outside ASCII must not make MariaDB refuse the lease.
    const owner = leaseOwner('wörker-hôst', 42, 'worker');
    expect(owner).toMatch(/^w_rker-h_st:42:worker:[0-9a-f]{6}$/);
    const leases = createLeaseSettle({ services: h.services, owner });
    try {
      const leased = await leases.lease(Number(migrated.id));
      expect(leased).toMatchObject({ message_id: id });
      const taken = await row();
      expect({ status: shownStatus(taken), lease_owner: taken.lease_owner }).toEqual({ status: 'sending', lease_owner: owner });
      expect(Number(taken.lease_until)).toBeGreaterThan(Date.now());
    } finally {
      leases.stop();
    }
  }, 60_000);

  it('are a no-op when already applied (several processes may start at once)', async () => {
    const [, applied] = await h.services.db.migrate.latest({ migrationSource });
    expect(applied).toEqual([]);
  });
});
