import type { Knex } from 'knex';

/**
 * Tracking. A delivery whose mail is tracked or personalised gets a random `track_id` (the key every open,
 * click and unsubscribe token carries), its own MIME when it differs from the message's, and the times of its
 * first open and click (set once, atomically: that is what makes an event "unique"). `tracked_links` keeps
 * each tracked message's original link targets, so a token never carries a URL.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.alterTable('deliveries', (t) => {
    t.string('track_id', 24).nullable();
    if (mysql) t.specificType('mime', 'LONGBLOB').nullable();
    else t.binary('mime').nullable();
    t.bigInteger('first_opened_at').nullable();
    t.bigInteger('first_clicked_at').nullable();
    t.unique(['track_id']);
  });
  await knex.schema.createTable('tracked_links', (t) => {
    t.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
    t.integer('idx').unsigned().notNullable();
    t.text('url').notNullable();
    t.primary(['message_id', 'idx']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tracked_links');
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropUnique(['track_id']);
    t.dropColumn('track_id');
    t.dropColumn('mime');
    t.dropColumn('first_opened_at');
    t.dropColumn('first_clicked_at');
  });
}
