import type { Knex } from 'knex';

/**
 * The sending IP pool (SENDING_IP_POOLS) a sender domain's mail leaves from in DELIVERY_MODE=mx, set by the admin only
 * (emailgateway.setdomainstatus IPPool). Null: DEFAULT_IP_POOL, or the OS default source when that is unset. A name,
 * not a foreign key: pools live in the configuration, which the worker checks when it sends.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.string('ip_pool', 32).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.dropColumn('ip_pool');
  });
}
