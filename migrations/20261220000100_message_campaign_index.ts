import type { Knex } from 'knex';

/**
 * campaign.cancel pages through a campaign's messages by id (`campaign_id = ? and id > ? order by id limit 500`).
 * The only index on campaign_id was (campaign_id, subscriber_id), so every page read and sorted all of the
 * campaign's rows; with (campaign_id, id) each page is a range read.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.index(['campaign_id', 'id'], 'messages_campaign_id_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['campaign_id', 'id'], 'messages_campaign_id_idx');
  });
}
