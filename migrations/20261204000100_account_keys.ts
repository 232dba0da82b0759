import type { Knex } from 'knex';

/**
 * Account API keys (`sk_live_…`, issue 14): user_api_keys rows of kind 'account' carry two permissions and
 * optional restrictions. `allowed_domain_ids` lists sender_domains ids (comma-separated; null = every domain
 * of the account, empty = none, so a key restricted to a deleted domain fails closed); `allowed_ips` lists
 * IP addresses and CIDR ranges (null = any address). Octeth user keys stay kind 'user' and ignore these.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('user_api_keys', (t) => {
    t.string('kind', 8).notNullable().defaultTo('user'); // user | account
    t.boolean('can_send').notNullable().defaultTo(true);
    t.boolean('can_read_analytics').notNullable().defaultTo(true);
    t.string('allowed_domain_ids', 2000).nullable();
    t.string('allowed_ips', 2000).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('user_api_keys', (t) => {
    t.dropColumn('allowed_ips');
    t.dropColumn('allowed_domain_ids');
    t.dropColumn('can_read_analytics');
    t.dropColumn('can_send');
    t.dropColumn('kind');
  });
}
