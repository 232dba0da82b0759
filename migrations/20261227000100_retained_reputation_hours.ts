import type { Knex } from 'knex';

/**
 * A deleted sender domain's hourly outcomes still inside the reputation guard's window, added up per owner
 * (src/domains/retained-hours.ts). They cascaded away with the domain, so deleting a domain about to be suspended
 * took its bad hours out of the account's figures. The bucket index serves the guard's prune of hours past the window.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('retained_reputation_hours', (t) => {
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('bucket').notNullable(); // the hour, as stats_rollup's
    t.string('type', 16).notNullable(); // delivered | bounced | bounced_hard | complained
    t.integer('count').unsigned().notNullable();
    t.primary(['user_id', 'bucket', 'type']);
    t.index(['bucket'], 'retained_reputation_hours_bucket_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('retained_reputation_hours');
}
