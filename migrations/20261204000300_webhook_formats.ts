import type { Knex } from 'knex';

/**
 * Webhook formats (issue 14): each webhook row is a subscription with its own payload shape and signature
 * scheme (`format`: standard | cloudmails | platform) and, for subscriptions made by webhook.create, its own
 * secret (`secret_enc`, AES-256-GCM; null = the domain's signing key, as Octeth's addwebhook rows use).
 * `domain_id` null = every domain of the account (an account key's subscription). `event` holds one stored
 * event name or a comma-separated list of them. Messages keep their caller's `metadata` (JSON object) for
 * lookups and webhook payloads.
 *
 * Runs outside a transaction: on SQLite, making domain_id nullable rebuilds the table, which needs foreign
 * keys off for the swap (else dropping the old table would cascade into webhook_deliveries); knex does that
 * only when not already inside a transaction.
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhooks', (t) => {
    t.integer('domain_id').unsigned().nullable().alter();
    t.string('event', 255).notNullable().alter();
  });
  await knex.schema.alterTable('webhooks', (t) => {
    t.string('format', 16).notNullable().defaultTo('standard');
    t.text('secret_enc').nullable();
    t.index(['user_id', 'status'], 'webhooks_user_status');
  });
  await knex.schema.alterTable('messages', (t) => {
    t.text('metadata').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('metadata');
  });
  // MySQL lets the user_id foreign key lean on webhooks_user_status: give it its own index before dropping that one.
  await knex.schema.alterTable('webhooks', (t) => {
    t.index(['user_id'], 'webhooks_user_id_index');
  });
  await knex.schema.alterTable('webhooks', (t) => {
    t.dropIndex(['user_id', 'status'], 'webhooks_user_status');
    t.dropColumn('secret_enc');
    t.dropColumn('format');
  });
}
