import type { Knex } from 'knex';

/**
 * Queue control (issue 17 §4): an operator may hold deliveries (status `held`). `held_from` keeps the status to
 * return to on release; `held_at` when the current hold began; `held_ms` the time spent held so far, which
 * DELIVERY_MAX_AGE_SECONDS does not count (a held delivery never expires). The (status, recipient_domain) index
 * serves holds, releases and listings by recipient domain without reading finished rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.string('held_from', 12).nullable();
    t.bigInteger('held_at').nullable();
    t.bigInteger('held_ms').notNullable().defaultTo(0);
    t.index(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
    t.dropColumn('held_from');
    t.dropColumn('held_at');
    t.dropColumn('held_ms');
  });
}
