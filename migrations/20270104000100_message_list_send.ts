import type { Knex } from 'knex';

/**
 * Whether a message went to a list's members as a list send (TargetListID, a campaign): its copy is checked at
 * delivery against the list's members and PerList entries as its accept picked them (src/delivery/suppressed-since.ts).
 * list_id alone cannot tell: a send naming a ListID (and SubscriberID) to personalise carries it too, to any address,
 * and its accept checks neither. Null: not a list send (every row written before this column).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.boolean('list_send').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('list_send');
  });
}
