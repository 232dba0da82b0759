import type { Knex } from 'knex';

/**
 * Batch accept as one row (issue 15): a submission of many messages is accepted as one `pending_batches` row holding
 * its prepared messages (src/mail/pending-batches.ts); the delivery worker, the sweeper or the first read of that
 * user's mail expands it into messages, deliveries and events and deletes it, in one transaction. The row goes with
 * its user or domain (as their messages would). (user_id, created_at) serves "this user's pending rows" on every
 * read; created_at alone the sweeper's orphans.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.createTable('pending_batches', (t) => {
    t.string('id', 36).primary();
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.integer('messages').unsigned().notNullable();
    t.integer('recipients').unsigned().notNullable();
    t.bigInteger('created_at').notNullable();
    if (mysql) t.specificType('payload', 'LONGBLOB').notNullable();
    else t.binary('payload').notNullable();
    t.index(['user_id', 'created_at'], 'pending_batches_user_created_idx');
    t.index(['created_at'], 'pending_batches_created_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('pending_batches');
}
