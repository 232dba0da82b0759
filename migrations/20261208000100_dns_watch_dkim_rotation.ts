import type { Knex } from 'knex';

/**
 * DNS watch and DKIM rotation (issue 17 §6).
 * - sender_domains: the watch's schedule and claim (`dns_next_check_at` doubles as the claim's lease, owned by
 *   `dns_check_owner`), which required records fail and since when (`dns_failures`, JSON), the earliest of those
 *   (`dns_failed_since`, which starts the grace period), a key waiting for its record (`dkim_next_*`) and the key
 *   it replaced, kept until `dkim_previous_remove_at`.
 * - domain_events: what happened to a domain (dns_failed, dns_restored, deactivated, dkim_*); goes with its domain.
 * - The webhook outbox and attempt log name events up to 40 characters (`domain.dkim_key_removed`); SQLite does
 *   not enforce a varchar length, so only MySQL widens them.
 * Runs outside a transaction: on SQLite, `down` drops columns by rebuilding sender_domains, which needs foreign
 * keys off for the swap (knex does that only outside a transaction), else the rebuild would cascade.
 */
export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sender_domains', (t) => {
    t.bigInteger('dns_next_check_at').nullable();
    t.string('dns_check_owner', 64).nullable();
    t.bigInteger('dns_checked_at').nullable();
    t.bigInteger('dns_failed_since').nullable();
    t.text('dns_failures').nullable();
    t.string('dkim_next_selector', 63).nullable();
    t.text('dkim_next_private_key_enc').nullable();
    t.text('dkim_next_public_key').nullable();
    t.bigInteger('dkim_next_created_at').nullable();
    t.string('dkim_previous_selector', 63).nullable();
    t.text('dkim_previous_private_key_enc').nullable();
    t.text('dkim_previous_public_key').nullable();
    t.bigInteger('dkim_previous_remove_at').nullable();
    t.index(['status', 'dns_next_check_at'], 'sender_domains_dns_watch');
    t.index(['dkim_previous_remove_at'], 'sender_domains_dkim_previous');
  });
  await knex.schema.createTable('domain_events', (t) => {
    t.bigIncrements('id');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.integer('user_id').unsigned().notNullable();
    t.string('type', 40).notNullable();
    t.text('data').notNullable(); // JSON
    t.bigInteger('created_at').notNullable();
    t.index(['domain_id', 'id']);
  });
  if (knex.client.config.client === 'mysql2') {
    await knex.schema.alterTable('webhook_deliveries', (t) => {
      t.string('event_type', 40).notNullable().alter();
    });
    await knex.schema.alterTable('webhook_attempts', (t) => {
      t.string('event_type', 40).nullable().alter();
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('domain_events');
  await knex.schema.alterTable('sender_domains', (t) => {
    t.dropIndex(['status', 'dns_next_check_at'], 'sender_domains_dns_watch');
    t.dropIndex(['dkim_previous_remove_at'], 'sender_domains_dkim_previous');
  });
  await knex.schema.alterTable('sender_domains', (t) => {
    for (const c of [
      'dns_next_check_at',
      'dns_check_owner',
      'dns_checked_at',
      'dns_failed_since',
      'dns_failures',
      'dkim_next_selector',
      'dkim_next_private_key_enc',
      'dkim_next_public_key',
      'dkim_next_created_at',
      'dkim_previous_selector',
      'dkim_previous_private_key_enc',
      'dkim_previous_public_key',
      'dkim_previous_remove_at',
    ])
      t.dropColumn(c);
  });
}
