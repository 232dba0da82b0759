import type { Knex } from 'knex';

/**
 * subscribers.get orders a list by SubscriberID or SubscriptionDate (then id): with no index in that order MariaDB
 * walked the primary key past every earlier list's members, or sorted the whole list, 0.6 s and 1.5 s for the first
 * page of a list of 1,000,000 (bench/subscriber-pages.ts). (list_id, id) and (list_id, subscription_date), the id
 * appended by the engine, give both orders a page at a time. One more index entry each per member written.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscribers', (t) => {
    t.index(['list_id', 'id'], 'subscribers_list_order_id_idx');
    t.index(['list_id', 'subscription_date'], 'subscribers_list_order_date_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscribers', (t) => {
    t.dropIndex(['list_id', 'id'], 'subscribers_list_order_id_idx');
    t.dropIndex(['list_id', 'subscription_date'], 'subscribers_list_order_date_idx');
  });
}
