import type { Knex } from 'knex';

/** Sender domains with their DKIM keys and DNS record set, and the per-domain API keys and SMTP credentials. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sender_domains', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('domain', 253).notNullable().unique();
    t.string('status', 20).notNullable().defaultTo('Approval Pending');
    t.string('subdomain', 32).nullable();
    t.string('track_prefix', 32).nullable();
    t.string('track_merge', 4).nullable();
    t.boolean('track_prefix_disabled').notNullable().defaultTo(false);
    t.boolean('link_tracking').notNullable().defaultTo(true);
    t.boolean('open_tracking').notNullable().defaultTo(true);
    t.boolean('unsubscribe_link').notNullable().defaultTo(false);
    t.string('hosting_provider', 100).nullable();
    t.string('dkim_selector', 63).notNullable();
    t.text('dkim_private_key_enc').notNullable();
    t.text('dkim_public_key').notNullable();
    t.text('dns_records').notNullable(); // JSON: [{host,type,value,required,purpose,ok?}]
    t.bigInteger('last_verified_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['user_id']);
  });

  await knex.schema.createTable('domain_api_keys', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('key_hash', 64).notNullable().unique();
    t.string('key_last4', 4).notNullable();
    t.string('description', 255).notNullable();
    t.string('status', 16).notNullable().defaultTo('Enabled');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.index(['domain_id']);
  });

  await knex.schema.createTable('smtp_credentials', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('username', 64).notNullable().unique();
    t.string('password_hash', 64).notNullable();
    t.string('status', 16).notNullable().defaultTo('Enabled');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.index(['domain_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['smtp_credentials', 'domain_api_keys', 'sender_domains']) await knex.schema.dropTableIfExists(t);
}
