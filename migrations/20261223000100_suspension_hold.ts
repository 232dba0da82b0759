import type { Knex } from 'knex';

/**
 * A sender domain's suspension holds its waiting deliveries (src/delivery/suspension-hold.ts). `held_by` tells those
 * apart from an operator's hold (null): only lifting the suspension releases them, not queue.release, which a
 * suspended tenant could otherwise call on its own deliveries.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.string('held_by', 12).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropColumn('held_by');
  });
}
