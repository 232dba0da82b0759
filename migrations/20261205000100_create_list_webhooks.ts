import type { Knex } from 'knex';

/**
 * Inbound list webhooks (upstream's `user.webhook.*`): a URL with a secret id that an outside system calls to
 * subscribe an address to one list, or unsubscribe it (from that list or all the owner's lists). The secret is
 * kept encrypted (it is shown again on every read) with its SHA-256 for the lookup; per-day request counts beside.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('list_webhooks', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('list_id').unsigned().notNullable().references('id').inTable('lists').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.string('event', 16).notNullable(); // Subscription | Unsubscription
    t.boolean('unsubscribe_all').notNullable().defaultTo(false);
    t.string('secret_hash', 64).notNullable().unique();
    t.text('secret_enc').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['user_id', 'id']);
  });
  await knex.schema.createTable('list_webhook_stats', (t) => {
    t.integer('webhook_id').unsigned().notNullable().references('id').inTable('list_webhooks').onDelete('CASCADE');
    t.string('day', 10).notNullable(); // Y-m-d, UTC
    t.integer('received').unsigned().notNullable().defaultTo(0);
    t.integer('failed').unsigned().notNullable().defaultTo(0);
    t.integer('successful').unsigned().notNullable().defaultTo(0);
    t.primary(['webhook_id', 'day']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('list_webhook_stats');
  await knex.schema.dropTableIfExists('list_webhooks');
}
