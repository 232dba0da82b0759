import type { Knex } from 'knex';

/**
 * Indexes for the user-session message log (emailgateway.getmessagelog, the console's Messages page):
 * - messages (user_id, created_at): a page across all of a user's domains, newest first, from a cursor.
 *   (domain_id, created_at) already serves one domain.
 * - deliveries (user_id, recipient): the Recipient search, which otherwise reads every delivery of the user.
 * Each costs one more index write per message or delivery on the send path.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => t.index(['user_id', 'created_at'], 'messages_user_created_idx'));
  await knex.schema.alterTable('deliveries', (t) => t.index(['user_id', 'recipient'], 'deliveries_user_recipient_idx'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => t.dropIndex(['user_id', 'recipient'], 'deliveries_user_recipient_idx'));
  // MySQL dropped the foreign key's own user_id index when (user_id, created_at) could serve it: give it back first.
  if (knex.client.config.client === 'mysql2') await knex.schema.alterTable('messages', (t) => t.index(['user_id'], 'messages_user_id_foreign'));
  await knex.schema.alterTable('messages', (t) => t.dropIndex(['user_id', 'created_at'], 'messages_user_created_idx'));
}
