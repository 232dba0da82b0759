import type { Knex } from 'knex';

/**
 * The reputation guard (src/domains/reputation-guard.ts) counts a domain's outcomes from `reputation_from` on (the
 * first whole hour after an admin lifted its suspension), so the hours that caused a suspension do not cause the next.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.bigInteger('reputation_from').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.dropColumn('reputation_from');
  });
}
