import type { Knex } from 'knex';

/**
 * A deleted sender domain's hard bounces, complaints and unsubscribes, kept for its owner (src/domains/retained.ts).
 * Deleting a domain cascaded its suppression list away, so deleting and re-adding it (to redo its DNS, say) mailed
 * everyone who had unsubscribed or complained. Keyed by the owner and the domain's name: re-adding that name
 * restores them, and the account's other domains (a reseller's other clients) are not touched.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('retained_suppressions', (t) => {
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('domain', 253).notNullable();
    t.string('email', 320).notNullable(); // lowercase
    t.string('reason', 16).notNullable(); // hard_bounce | complaint | unsubscribe
    t.string('detail', 1000).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable(); // when the address was first suppressed
    t.bigInteger('retained_at').notNullable(); // when its domain was deleted
    t.primary(['user_id', 'domain', 'email']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('retained_suppressions');
}
