import type { Knex } from 'knex';

/**
 * Campaigns: one content sent to every subscribed, unsuppressed member of a list. A launch is paged by a worker
 * task that holds a lease on the campaign row and moves `cursor` (the last subscriber id handled) page by page.
 * Each campaign message carries `campaign_id`; (campaign_id, subscriber_id) is unique, so no member is ever sent the
 * same campaign twice, whatever crashes and retries happen between a page's commit and the cursor's.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.createTable('campaigns', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('list_id').unsigned().nullable();
    t.integer('domain_id').unsigned().nullable(); // resolved from From at launch
    t.string('name', 255).notNullable();
    t.string('subject', 998).notNullable().defaultTo('');
    if (mysql) t.text('html', 'longtext').nullable();
    else t.text('html').nullable();
    if (mysql) t.text('text', 'longtext').nullable();
    else t.text('text').nullable();
    t.string('from_email', 320).nullable();
    t.string('from_name', 255).notNullable().defaultTo('');
    t.string('status', 12).notNullable().defaultTo('draft'); // draft | sending | completed | cancelled | failed
    t.integer('cursor').unsigned().notNullable().defaultTo(0);
    t.integer('recipients').unsigned().notNullable().defaultTo(0);
    t.integer('queued').unsigned().notNullable().defaultTo(0);
    t.string('error', 1000).nullable();
    t.bigInteger('lease_until').nullable();
    t.string('lease_owner', 64).nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('launched_at').nullable();
    t.bigInteger('completed_at').nullable();
    t.index(['user_id', 'id']);
    t.index(['status']);
  });
  await knex.schema.alterTable('messages', (t) => {
    t.integer('campaign_id').unsigned().nullable();
    t.unique(['campaign_id', 'subscriber_id'], { indexName: 'messages_campaign_subscriber_unique' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropUnique(['campaign_id', 'subscriber_id'], 'messages_campaign_subscriber_unique');
    t.dropColumn('campaign_id');
  });
  await knex.schema.dropTableIfExists('campaigns');
}
