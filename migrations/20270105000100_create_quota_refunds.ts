import type { Knex } from 'knex';

/**
 * Quota refunds the store refused when a send failed (src/mail/quota-refunds.ts): kept beside the counters, so that
 * giving one back and deleting its row is one transaction, and a stop or a crash in between loses nothing.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('quota_refunds', (t) => {
    t.increments('id').primary();
    t.integer('user_id').unsigned().notNullable();
    // The usage_counters periods still to give back, comma-separated ('d2026-11-23,m2026-11').
    t.string('periods', 64).notNullable();
    t.integer('sent').unsigned().notNullable();
    // What the failed send would have written: found, its COMMIT landed after all and the reservation stands.
    t.string('message_id', 36).nullable();
    t.string('pending_id', 36).nullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('quota_refunds');
}
