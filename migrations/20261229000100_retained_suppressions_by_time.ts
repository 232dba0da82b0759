import type { Knex } from 'knex';

/**
 * emailgateway.getretainedsuppressions pages an account's kept addresses newest deletion first: without this index
 * every page (each visit of the console's Suppressions page) sorted all of the account's kept rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('retained_suppressions', (t) => {
    t.index(['user_id', 'retained_at'], 'retained_suppressions_user_time');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('retained_suppressions', (t) => {
    t.dropIndex(['user_id', 'retained_at'], 'retained_suppressions_user_time');
  });
}
