import type { Knex } from 'knex';

/**
 * The readers of "leased" (queue.list State=leased, the message status filter 'sending': src/delivery/leased.ts) find
 * the leased rows through `lease_until` > 0 instead of reading the whole waiting backlog for its stamps (690-790 ms at
 * 250 leased among 250,000 waiting on MariaDB, bench/README "an index for leased"). Cost: this one index's entry
 * changes at a lease and at its settle, where the lease that stored status 'sending' changed the five that hold
 * `status`. On MariaDB it is built online (INPLACE, no lock: writes go on while a large `deliveries` is read).
 */
export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'mysql2') {
    await knex.raw('alter table ?? add index ?? (??), algorithm = inplace, lock = none', ['deliveries', 'deliveries_lease_idx', 'lease_until']);
    return;
  }
  await knex.schema.alterTable('deliveries', (t) => {
    t.index(['lease_until'], 'deliveries_lease_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['lease_until'], 'deliveries_lease_idx');
  });
}
