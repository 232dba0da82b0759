import type { Knex } from 'knex';

/** statistics rollups (issue #5). */
export async function up(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}

export async function down(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}
