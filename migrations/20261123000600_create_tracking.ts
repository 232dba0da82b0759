import type { Knex } from 'knex';

/** tracking: per-delivery tracking ids and the links a message tracks (issue #5). */
export async function up(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}

export async function down(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}
