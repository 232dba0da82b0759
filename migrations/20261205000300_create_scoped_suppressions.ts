import type { Knex } from 'knex';

/**
 * Upstream's suppression scopes beside each sender domain's list (`suppressions`): entries for one list (PerList:
 * list_id set), for one account (AccountWide: user_id set, list_id null) or for everyone (SystemWide: both null),
 * with the source and reason upstream records. `scope_key` ('l:<list>', 'u:<user>', 's') makes an address unique per
 * scope on both databases (NULLs would not). Also: install-wide patterns (admin), each account's whitelist, and
 * the soft-bounce count that turns an address into a hard bounce after SOFT_BOUNCE_LIMIT.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('suppression_entries', (t) => {
    t.increments('id');
    t.string('scope_key', 24).notNullable();
    t.integer('list_id').unsigned().nullable().references('id').inTable('lists').onDelete('CASCADE');
    t.integer('user_id').unsigned().nullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('email', 191).notNullable(); // lowercase
    t.string('source', 16).notNullable(); // Administrator | User | SPAM complaint | Hard Bounced | Unsubscribe
    t.string('reason', 250).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.unique(['scope_key', 'email']);
    t.index(['email']);
  });
  await knex.schema.createTable('suppression_patterns', (t) => {
    t.increments('id');
    t.string('kind', 12).notNullable(); // REGEXP | NOT REGEXP | STRPOS
    t.string('pattern', 200).notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('suppression_whitelist', (t) => {
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('entry', 191).notNullable(); // lowercase address, `*` wildcards allowed
    t.primary(['user_id', 'entry']);
  });
  await knex.schema.createTable('soft_bounce_counts', (t) => {
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('email', 191).notNullable();
    t.integer('count').unsigned().notNullable().defaultTo(0);
    t.bigInteger('updated_at').notNullable();
    t.primary(['domain_id', 'email']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['soft_bounce_counts', 'suppression_whitelist', 'suppression_patterns', 'suppression_entries']) await knex.schema.dropTableIfExists(t);
}
