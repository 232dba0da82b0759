import type { Knex } from 'knex';

/**
 * Campaigns count the members a page read but the send path refused one by one (suppressed after the page was read):
 * they were only logged, so a campaign's progress did not add up to its recipients and gave no sign of why.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('campaigns', (t) => {
    t.integer('skipped').unsigned().notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('campaigns', (t) => {
    t.dropColumn('skipped');
  });
}
