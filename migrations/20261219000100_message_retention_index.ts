import type { Knex } from 'knex';

/** MESSAGE_RETENTION_DAYS (src/mail/retention.ts) reads the oldest messages first: by created_at alone. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.index(['created_at'], 'messages_created_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('messages', (t) => {
    t.dropIndex(['created_at'], 'messages_created_idx');
  });
}
