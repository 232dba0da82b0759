import type { Knex } from 'knex';

/** lists, subscribers, custom fields, templates and journeys (issue #6). */
export async function up(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}

export async function down(_knex: Knex): Promise<void> {
  // filled in by its issue's work
}
