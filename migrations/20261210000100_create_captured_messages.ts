import type { Knex } from 'knex';

/**
 * DELIVERY_MODE=capture: each delivery's final bytes (personalised, tracked, DKIM-signed) kept instead of sent,
 * with its envelope and a few header fields for listing. Pruned by count and age (CAPTURE_MAX_*); goes with
 * its domain or user.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.createTable('captured_messages', (t) => {
    t.bigIncrements('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('message_id', 36).notNullable();
    t.bigInteger('delivery_id').unsigned().notNullable();
    t.string('mail_from', 320).notNullable();
    t.string('rcpt_to', 320).notNullable();
    t.string('from_header', 320).notNullable().defaultTo('');
    t.string('subject', 998).notNullable().defaultTo('');
    t.integer('size').unsigned().notNullable();
    if (mysql) t.specificType('raw', 'LONGBLOB').notNullable();
    else t.binary('raw').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['user_id', 'id']);
    t.index(['domain_id', 'id']);
    t.index(['message_id']);
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('captured_messages');
}
