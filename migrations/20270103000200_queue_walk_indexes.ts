import type { Knex } from 'knex';

/**
 * A queue walk (src/delivery/queue-pages.ts: emailgateway.cleardomainqueue, a suspension's hold and lift, queue.hold,
 * release, retry and purge) reads a page at a time in (next_attempt_at, id) order. By sender domain it went along
 * (user_id, status, next_attempt_at), a row lookup for each of the owner's other domains' rows too, or MariaDB took
 * (status, next_attempt_at), every tenant's queue; the admin's walk by recipient domain read every tenant's queue, or
 * sorted all of that domain's rows on each page (bench/queue-walk.ts). (domain_id, status, next_attempt_at) reads a
 * domain's own rows in order; (status, recipient_domain) gains next_attempt_at (it served only these filters) so a
 * recipient domain's come in order too. One more index entry per delivery written and per status change (the
 * domain's), as the queue-list index cost.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.index(['domain_id', 'status', 'next_attempt_at'], 'deliveries_domain_queue_idx');
    t.index(['status', 'recipient_domain', 'next_attempt_at'], 'deliveries_rcpt_queue_idx');
  });
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.index(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
  });
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['domain_id', 'status', 'next_attempt_at'], 'deliveries_domain_queue_idx');
    t.dropIndex(['status', 'recipient_domain', 'next_attempt_at'], 'deliveries_rcpt_queue_idx');
  });
}
