import type { Knex } from 'knex';

/**
 * Compose at delivery (issue 15 §1): an API send stores its validated request once per message in
 * `messages.content` (see src/mail/stored-content.ts) and the worker composes the MIME; only SMTP-front messages
 * keep raw `mime`, which therefore becomes nullable. `tracked_links.templated` marks a link whose href holds
 * personalisation tags: its row keeps the href as written and a click renders it for the clicking delivery.
 * Runs outside a transaction: on SQLite, making `mime` nullable rebuilds `messages`, which needs foreign keys off
 * for the swap (knex does that only outside a transaction), else dropping the old table would cascade to deliveries.
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.alterTable('messages', (t) => {
    if (mysql) t.specificType('content', 'LONGBLOB').nullable();
    else t.binary('content').nullable();
  });
  await knex.schema.alterTable('messages', (t) => {
    if (mysql) t.specificType('mime', 'LONGBLOB').nullable().alter();
    else t.binary('mime').nullable().alter();
  });
  await knex.schema.alterTable('tracked_links', (t) => {
    t.boolean('templated').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.alterTable('tracked_links', (t) => {
    t.dropColumn('templated');
  });
  // Messages stored as content have no MIME to restore: they go (with their deliveries) before mime is NOT NULL again.
  await knex('messages').whereNull('mime').del();
  await knex.schema.alterTable('messages', (t) => {
    if (mysql) t.specificType('mime', 'LONGBLOB').notNullable().alter();
    else t.binary('mime').notNullable().alter();
  });
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('content');
  });
}
