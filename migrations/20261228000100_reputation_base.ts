import type { Knex } from 'knex';

/**
 * What the lift's hour already held when an admin lifted a suspension (emailgateway.setdomainstatus), as JSON
 * `{type: count}` of the reputation guard's types: the guard counts that hour net of it, so the outcomes after the lift
 * (the released backlog's first of all) count at once, and those that caused the suspension do not count again. JSON
 * in one text column: written and read only with reputation_from, never queried, the same on MariaDB and SQLite.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.text('reputation_base').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.dropColumn('reputation_base');
  });
}
