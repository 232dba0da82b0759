import type { Knex } from 'knex';

/**
 * Subscriber lists, their custom-field definitions, subscribers and their field values, email
 * templates, and the journey/action ids sends may be attributed to (issue #6). Times are epoch ms.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  const longText = (t: Knex.CreateTableBuilder, name: string) => (mysql ? t.text(name, 'longtext') : t.text(name));

  await knex.schema.createTable('lists', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.string('description', 1000).notNullable().defaultTo('');
    t.string('opt_in_mode', 8).notNullable().defaultTo('Single'); // Single | Double
    t.string('sender_name', 255).notNullable().defaultTo('');
    t.string('sender_email_address', 320).notNullable().defaultTo('');
    t.string('sender_company', 255).notNullable().defaultTo('');
    t.string('sender_address', 1000).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['user_id', 'id']);
  });

  await knex.schema.createTable('list_custom_fields', (t) => {
    t.increments('id');
    t.integer('list_id').unsigned().notNullable().references('id').inTable('lists').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.string('field_type', 32).notNullable().defaultTo('Single line');
    t.string('alias', 64).nullable(); // merge-tag alias, unique within the list
    t.string('default_value', 1000).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.unique(['list_id', 'alias']);
  });

  await knex.schema.createTable('subscribers', (t) => {
    t.increments('id');
    t.integer('list_id').unsigned().notNullable().references('id').inTable('lists').onDelete('CASCADE');
    t.string('email', 191).notNullable(); // lowercase
    t.string('status', 16).notNullable(); // Subscribed | Unsubscribed | Opt-In Pending
    t.bigInteger('subscription_date').nullable();
    t.string('subscription_ip', 64).notNullable().defaultTo('');
    t.bigInteger('unsubscription_date').nullable();
    t.string('unsubscription_ip', 64).notNullable().defaultTo('');
    t.string('source', 16).notNullable().defaultTo('API');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['list_id', 'email']);
    // The send paths: TargetListID by email (first 250) and by id (full-list paging).
    t.index(['list_id', 'status', 'email']);
    t.index(['list_id', 'status', 'id']);
  });

  await knex.schema.createTable('subscriber_values', (t) => {
    t.integer('subscriber_id').unsigned().notNullable().references('id').inTable('subscribers').onDelete('CASCADE');
    t.integer('field_id').unsigned().notNullable().references('id').inTable('list_custom_fields').onDelete('CASCADE');
    t.text('value').notNullable();
    t.primary(['subscriber_id', 'field_id']);
    t.index(['field_id']);
  });

  await knex.schema.createTable('templates', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.string('description', 1000).notNullable().defaultTo('');
    t.string('subject', 998).notNullable().defaultTo('');
    longText(t, 'html').nullable();
    longText(t, 'text').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['user_id', 'id']);
  });

  await knex.schema.createTable('journeys', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.string('name', 255).notNullable().defaultTo('');
    t.index(['user_id', 'id']);
  });

  await knex.schema.createTable('journey_actions', (t) => {
    t.increments('id');
    t.integer('journey_id').unsigned().notNullable().references('id').inTable('journeys').onDelete('CASCADE');
    t.string('name', 255).notNullable().defaultTo('');
    t.index(['journey_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['journey_actions', 'journeys', 'templates', 'subscriber_values', 'subscribers', 'list_custom_fields', 'lists']) {
    await knex.schema.dropTableIfExists(t);
  }
}
