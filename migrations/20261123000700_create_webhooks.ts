import type { Knex } from 'knex';

/**
 * Webhooks (issue #5): the endpoints a domain subscribes, the domain's signing key (encrypted, it must be
 * recoverable to sign), the outbox the webhook worker leases rows from, and a short per-webhook attempt log.
 * Everything cascades from the sender domain, so deleting a domain deletes its webhooks and their queue.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhooks', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('event', 16).notNullable(); // stored vocabulary: delivered | bounced | opened | clicked | unsubscribed | complained
    t.string('url', 2048).notNullable();
    t.string('status', 16).notNullable().defaultTo('Enabled'); // Enabled | Disabled
    t.integer('consecutive_failures').unsigned().notNullable().defaultTo(0);
    t.string('disabled_reason', 255).nullable();
    t.bigInteger('disabled_at').nullable();
    t.bigInteger('last_success_at').nullable();
    t.bigInteger('last_failure_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['domain_id', 'status', 'event']);
  });

  await knex.schema.createTable('webhook_signing_keys', (t) => {
    t.integer('domain_id').unsigned().primary().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.text('key_enc').notNullable(); // AES-256-GCM of the 64-hex-character SigningKey
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('id');
    t.integer('webhook_id').unsigned().notNullable().references('id').inTable('webhooks').onDelete('CASCADE');
    t.string('event_id', 40).notNullable(); // the `webhook-id` header and payload `id`, the same on every retry
    t.string('event_type', 16).notNullable();
    t.text('payload', 'mediumtext').notNullable(); // the JSON body, built when the event was recorded
    t.string('status', 12).notNullable(); // pending | delivered | failed
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable(); // once finished: the time of the last attempt (pruning uses it)
    t.bigInteger('lease_until').nullable();
    t.string('lease_owner', 64).nullable();
    t.integer('last_status_code').nullable();
    t.string('last_error', 1000).nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['status', 'next_attempt_at']);
    t.index(['webhook_id', 'status']);
  });

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.bigIncrements('id');
    t.integer('webhook_id').unsigned().notNullable().references('id').inTable('webhooks').onDelete('CASCADE');
    t.bigInteger('delivery_id').unsigned().nullable(); // no foreign key: the log outlives pruned outbox rows
    t.string('event_id', 40).nullable();
    t.string('event_type', 16).nullable();
    t.integer('attempt').unsigned().notNullable().defaultTo(0);
    t.string('result', 12).notNullable(); // delivered | failed | refused | disabled
    t.integer('status_code').nullable();
    t.integer('duration_ms').unsigned().notNullable().defaultTo(0);
    t.string('error', 1000).nullable();
    t.bigInteger('at').notNullable();
    t.index(['webhook_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['webhook_attempts', 'webhook_deliveries', 'webhook_signing_keys', 'webhooks']) await knex.schema.dropTableIfExists(t);
}
