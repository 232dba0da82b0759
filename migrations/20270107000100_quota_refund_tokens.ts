import crypto from 'node:crypto';
import type { Knex } from 'knex';

/**
 * Each quota refund carries a token (src/mail/quota-refunds.ts): the row of that token is written in the same
 * transaction that gives the counters back, and `applied_at` says it was, so a try whose answer was lost after it
 * landed (or a record applied by another process meanwhile) finds the row settled and gives nothing back twice.
 * Nullable on the schema only (SQLite cannot add a NOT NULL column without a default): every row has one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('quota_refunds', (t) => {
    t.string('token', 36).nullable();
    // When it was given back (or found written after all); null while it waits to be.
    t.bigInteger('applied_at').nullable();
  });
  // Rows recorded before this migration (a refused refund still waiting): one token each.
  const rows: { id: number }[] = await knex('quota_refunds').whereNull('token').select('id');
  for (const { id } of rows) await knex('quota_refunds').where({ id }).update({ token: crypto.randomUUID() });
  await knex.schema.alterTable('quota_refunds', (t) => {
    t.unique(['token'], { indexName: 'quota_refunds_token_unique' });
    // The sweep reads the waiting ones; the prune the settled ones by age.
    t.index(['applied_at'], 'quota_refunds_applied_at_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('quota_refunds', (t) => {
    t.dropIndex(['applied_at'], 'quota_refunds_applied_at_idx');
    t.dropUnique(['token'], 'quota_refunds_token_unique');
  });
  // Settled rows mean nothing to the schema before (it would give them back again).
  await knex('quota_refunds').whereNotNull('applied_at').delete();
  await knex.schema.alterTable('quota_refunds', (t) => {
    t.dropColumn('applied_at');
    t.dropColumn('token');
  });
}
