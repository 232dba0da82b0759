import type { Knex } from 'knex';

/**
 * Idempotency keys get a lease (issue 13 item 2): the request holding a key owns it until `lease_until`; after
 * that a retry may take it over with a new `lease_token`. The reply is stored only under the token that holds
 * the lease, in the transaction that commits the request's messages. Rows written before this migration have
 * neither: their lease counts from `created_at`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.string('lease_token', 32).nullable();
    t.bigInteger('lease_until').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => {
    t.dropColumn('lease_token');
    t.dropColumn('lease_until');
  });
}
