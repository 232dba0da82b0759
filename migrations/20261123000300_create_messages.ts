import type { Knex } from 'knex';

/**
 * The send pipeline's tables. A message holds its MIME once; a delivery is one recipient of it and is
 * the unit the delivery worker leases; events record what happened to each delivery.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';

  await knex.schema.createTable('messages', (t) => {
    t.string('id', 36).primary(); // UUID, the API's MessageID
    t.integer('user_id').unsigned().notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.integer('api_key_id').unsigned().nullable();
    t.string('source', 8).notNullable().defaultTo('api'); // api | smtp
    t.string('from_email', 320).notNullable();
    t.string('subject', 998).notNullable().defaultTo('');
    t.text('tags').notNullable(); // JSON array
    t.string('message_id_header', 255).notNullable();
    if (mysql) t.specificType('mime', 'LONGBLOB').notNullable();
    else t.binary('mime').notNullable();
    t.integer('mime_size').unsigned().notNullable();
    t.bigInteger('send_at').nullable();
    t.integer('template_id').unsigned().nullable();
    t.integer('list_id').unsigned().nullable();
    t.integer('subscriber_id').unsigned().nullable();
    t.integer('journey_id').unsigned().nullable();
    t.integer('action_id').unsigned().nullable();
    t.bigInteger('created_at').notNullable();
    t.index(['domain_id', 'created_at']);
  });

  await knex.schema.createTable('deliveries', (t) => {
    t.bigIncrements('id');
    t.string('message_id', 36).notNullable().references('id').inTable('messages').onDelete('CASCADE');
    t.integer('user_id').unsigned().notNullable();
    t.integer('domain_id').unsigned().notNullable();
    t.string('recipient', 320).notNullable();
    t.string('recipient_domain', 253).notNullable();
    t.string('kind', 4).notNullable(); // to | cc | bcc
    // queued | scheduled | sending | deferred | delivered | bounced | failed | cancelled
    t.string('status', 12).notNullable();
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.bigInteger('lease_until').nullable();
    t.string('lease_owner', 64).nullable();
    t.text('last_reply').nullable();
    t.string('bounce_class', 16).nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('finished_at').nullable();
    t.index(['status', 'next_attempt_at']);
    t.index(['message_id']);
    t.index(['domain_id', 'created_at']);
  });

  await knex.schema.createTable('events', (t) => {
    t.bigIncrements('id');
    t.string('message_id', 36).notNullable();
    t.bigInteger('delivery_id').unsigned().nullable();
    t.integer('domain_id').unsigned().notNullable();
    t.integer('user_id').unsigned().notNullable();
    t.string('type', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.text('data').notNullable(); // JSON
    t.index(['message_id']);
    t.index(['domain_id', 'created_at']);
  });

  await knex.schema.createTable('suppressions', (t) => {
    t.increments('id');
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');
    t.string('email', 320).notNullable(); // lowercase
    t.string('reason', 16).notNullable(); // manual | hard_bounce | complaint | unsubscribe
    t.string('detail', 1000).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.unique(['domain_id', 'email']);
  });

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.string('key_hash', 64).primary(); // sha256(api key id + Idempotency-Key)
    t.string('request_hash', 64).notNullable();
    t.integer('status_code').notNullable();
    t.text('response').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['created_at']);
  });

  // Sent counts per user and period ('d2026-11-23', 'm2026-11'), raised atomically within the limits.
  await knex.schema.createTable('usage_counters', (t) => {
    t.integer('user_id').unsigned().notNullable();
    t.string('period', 12).notNullable();
    t.integer('sent').unsigned().notNullable().defaultTo(0);
    t.primary(['user_id', 'period']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['usage_counters', 'idempotency_keys', 'suppressions', 'events', 'deliveries', 'messages']) await knex.schema.dropTableIfExists(t);
}
