import type { Knex } from 'knex';

/**
 * Recipient domains' MTA-STS policies (src/delivery/mta-sts.ts), kept until their max_age so that a worker that
 * restarts still holds a domain to its policy: a fresh process that must fetch it again could be talked out of it
 * by whoever blocks the fetch (RFC 8461 §10.2).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mta_sts_policies', (t) => {
    t.string('domain', 253).primary();
    t.string('policy_id', 32).notNullable();
    t.string('mode', 8).notNullable();
    /** The MX patterns, one per line. */
    t.text('mx').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('fetched_at').notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mta_sts_policies');
}
