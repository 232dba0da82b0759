import type { Knex } from 'knex';

/**
 * A user's queue.list (and queue.retry, hold, release, purge) names their unfinished deliveries: user_id and a few
 * statuses. Without this index MariaDB chose between the user's whole history ((user_id, recipient)) and every
 * tenant's queue ((status, next_attempt_at)), and at 650k rows read the table end to end (bench/queue-list.ts).
 * With next_attempt_at last, one status's page comes in order without a sort. It costs one more index entry per
 * delivery written and per status change, measured by the same bench.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.index(['user_id', 'status', 'next_attempt_at'], 'deliveries_user_queue_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropIndex(['user_id', 'status', 'next_attempt_at'], 'deliveries_user_queue_idx');
  });
}
