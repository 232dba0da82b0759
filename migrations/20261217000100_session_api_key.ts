import type { Knex } from 'knex';

/**
 * A user session opened with an API key (user.login APIKey=…) remembers the key: the session then carries the key's
 * Permissions and IP binding, and ends with the key, instead of giving its holder everything the account may do.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.integer('api_key_id').unsigned().nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('api_key_id');
  });
}
