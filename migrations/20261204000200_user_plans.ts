import type { Knex } from 'knex';

/** Each account's plan (Starter | Professional | Enterprise): its request limits for account keys (src/accounts/plans.ts). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.string('plan', 16).notNullable().defaultTo('Starter');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('plan');
  });
}
