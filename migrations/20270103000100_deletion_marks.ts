import type { Knex } from 'knex';

/**
 * When a deletion began (src/domains/manage.ts deleteDomain, src/accounts/purge.ts deleteUsers), set in its first
 * short transaction and gone with the row at its end. A deletion purges in runs outside any transaction and can be
 * cut short: the mark keeps the row from being switched back on (or its name added again) while its suppression list
 * is half gone, and shows callers it is being deleted. Null: not being deleted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.bigInteger('deleting_at').nullable();
  });
  await knex.schema.alterTable('users', (t) => {
    t.bigInteger('deleting_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('deleting_at');
  });
  await knex.schema.alterTable('sender_domains', (t) => {
    t.dropColumn('deleting_at');
  });
}
