import type { Knex } from 'knex';

/**
 * The webhook worker reads each webhook's oldest due rows (src/webhooks/due-rows.ts): with next_attempt_at in the
 * index that is one seek and an ordered read of at most a few rows per webhook, however long a down receiver's
 * backlog grows. It replaces (webhook_id, status), its prefix, which also carries the webhook_id foreign key: the
 * new index is made first so MariaDB lets the old one go.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.index(['webhook_id', 'status', 'next_attempt_at'], 'webhook_deliveries_due');
  });
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.dropIndex(['webhook_id', 'status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.index(['webhook_id', 'status']);
  });
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.dropIndex(['webhook_id', 'status', 'next_attempt_at'], 'webhook_deliveries_due');
  });
}
