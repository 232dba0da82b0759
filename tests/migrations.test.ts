import { migrationSource } from '../migrations';
import { Harness, startHarness } from './helpers/harness';

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

  it('are a no-op when already applied (several processes may start at once)', async () => {
    const [, applied] = await h.services.db.migrate.latest({ migrationSource });
    expect(applied).toEqual([]);
  });
});
