import type { Knex } from 'knex';

/** Users, user groups, admins, sessions, user API keys and install settings. Times are epoch milliseconds. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settings', (t) => {
    t.string('name', 64).primary();
    t.text('value').notNullable();
  });

  await knex.schema.createTable('user_groups', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable();
    t.string('permissions', 2000).notNullable().defaultTo('*');
  });
  await knex('user_groups').insert({ id: 1, name: 'Default', permissions: '*' });

  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.integer('group_id').unsigned().notNullable().references('id').inTable('user_groups');
    t.string('username', 191).notNullable().unique();
    t.string('email_address', 191).notNullable().unique();
    t.string('password_hash', 255).notNullable();
    t.string('first_name', 100).notNullable().defaultTo('');
    t.string('last_name', 100).notNullable().defaultTo('');
    t.string('company_name', 191).notNullable().defaultTo('');
    t.string('time_zone', 64).notNullable().defaultTo('UTC');
    t.string('language', 16).notNullable().defaultTo('en');
    t.string('account_status', 16).notNullable().defaultTo('Enabled');
    t.string('reputation_level', 16).notNullable().defaultTo('Trusted');
    t.boolean('verified').notNullable().defaultTo(true);
    t.boolean('phone_verified').notNullable().defaultTo(false);
    t.integer('available_credits').notNullable().defaultTo(0);
    t.integer('limit_sender_domains').unsigned().notNullable().defaultTo(0);
    t.integer('limit_monthly').unsigned().notNullable().defaultTo(0);
    t.integer('limit_daily').unsigned().notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('admins', (t) => {
    t.increments('id');
    t.string('username', 191).notNullable().unique();
    t.string('email_address', 191).notNullable().defaultTo('');
    t.string('password_hash', 255).notNullable();
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('sessions', (t) => {
    t.string('token_hash', 64).primary();
    t.string('kind', 8).notNullable(); // 'user' | 'admin'
    t.integer('subject_id').unsigned().notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_seen_at').notNullable();
    t.index(['kind', 'subject_id']);
  });

  await knex.schema.createTable('user_api_keys', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('key_hash', 64).notNullable().unique();
    t.string('key_last4', 4).notNullable();
    t.string('note', 255).notNullable().defaultTo('');
    t.string('bound_ip', 64).nullable();
    t.string('permissions', 2000).notNullable().defaultTo('*');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.string('last_used_ip', 64).nullable();
    t.integer('request_count').unsigned().notNullable().defaultTo(0);
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['user_api_keys', 'sessions', 'admins', 'users', 'user_groups', 'settings']) {
    await knex.schema.dropTableIfExists(t);
  }
}
