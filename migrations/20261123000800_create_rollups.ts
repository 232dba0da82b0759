import type { Knex } from 'knex';

/**
 * Statistics rollups (issue #5), kept current by src/stats/rollups.ts inside each event's transaction.
 * Every event lands in two buckets of each table: its UTC hour (`unit` 'h', `bucket` = epoch ms / 3,600,000)
 * and its UTC day (`unit` 'd', `bucket` = epoch ms / 86,400,000). A user's local days in any whole-hour time
 * zone are exact sums: whole UTC days from the day rows, the ragged ends from the hour rows. Stats queries read
 * only these tables, so their cost grows with the days (and tags, recipient domains) asked for, never with
 * the number of deliveries.
 */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  const domainFk = (t: Knex.CreateTableBuilder) =>
    t.integer('domain_id').unsigned().notNullable().references('id').inTable('sender_domains').onDelete('CASCADE');

  // Every stored event type per domain and bucket. unique_count: opened/clicked events flagged data.unique.
  await knex.schema.createTable('stats_rollup', (t) => {
    domainFk(t);
    t.string('unit', 1).notNullable();
    t.integer('bucket').notNullable();
    t.string('type', 16).notNullable();
    t.integer('count').unsigned().notNullable().defaultTo(0);
    t.integer('unique_count').unsigned().notNullable().defaultTo(0);
    t.primary(['domain_id', 'unit', 'bucket', 'type']);
  });

  // The same per message tag (messages.tags), for the types TagStats shows.
  await knex.schema.createTable('stats_tag_rollup', (t) => {
    domainFk(t);
    t.string('unit', 1).notNullable();
    t.integer('bucket').notNullable();
    const tag = t.string('tag', 100).notNullable();
    if (mysql) tag.collate('utf8mb4_bin'); // tags are case-sensitive, as on SQLite
    t.string('type', 16).notNullable();
    t.integer('count').unsigned().notNullable().defaultTo(0);
    t.integer('unique_count').unsigned().notNullable().defaultTo(0);
    t.primary(['domain_id', 'unit', 'bucket', 'tag', 'type']);
  });

  // Per recipient domain: accepted/suppressed/cancelled counts and, for delivered/bounced/failed, the
  // seconds from acceptance to the outcome (sum, min, max) and the eight delivery-speed histogram buckets
  // b0..b7 = <1s, 1-5s, 5-10s, 10-30s, 30-60s, 1-5m, 5-10m, >10m. `timed` counts events that had seconds.
  await knex.schema.createTable('stats_recipient_domain_rollup', (t) => {
    domainFk(t);
    const rd = t.string('recipient_domain', 253).notNullable();
    if (mysql) rd.collate('utf8mb4_bin');
    t.string('unit', 1).notNullable();
    t.integer('bucket').notNullable();
    t.string('type', 16).notNullable();
    t.integer('count').unsigned().notNullable().defaultTo(0);
    t.integer('timed').unsigned().notNullable().defaultTo(0);
    t.bigInteger('seconds_sum').unsigned().notNullable().defaultTo(0);
    t.integer('seconds_min').unsigned().nullable();
    t.integer('seconds_max').unsigned().nullable();
    for (let b = 0; b < 8; b++) t.integer(`b${b}`).unsigned().notNullable().defaultTo(0);
    t.primary(['domain_id', 'recipient_domain', 'unit', 'bucket', 'type']);
    t.index(['domain_id', 'unit', 'bucket'], 'stats_rd_rollup_domain_bucket');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['stats_recipient_domain_rollup', 'stats_tag_rollup', 'stats_rollup']) await knex.schema.dropTableIfExists(t);
}
