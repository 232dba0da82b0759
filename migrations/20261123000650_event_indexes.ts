import type { Knex } from 'knex';

/**
 * Indexes the event queries need (issue #5); every one also costs each event insert, so only two:
 * - (domain_id, type, created_at): the Event filter of getevents/exportevents, aggrevents by event and the
 *   dailyseries counts (covering: type and time come from the index alone).
 * - (user_id, created_at): getevents, exportevents and dailyseries across all of a user's domains, newest first.
 * The existing (domain_id, created_at) already serves one domain newest first with id as tie-break: MySQL's
 * secondary indexes and SQLite's both end in the primary key, so (domain_id, created_at, id) would repeat it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('events', (t) => {
    t.index(['domain_id', 'type', 'created_at'], 'events_domain_type_created_idx');
    t.index(['user_id', 'created_at'], 'events_user_created_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('events', (t) => {
    t.dropIndex(['domain_id', 'type', 'created_at'], 'events_domain_type_created_idx');
    t.dropIndex(['user_id', 'created_at'], 'events_user_created_idx');
  });
}
