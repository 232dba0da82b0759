import type { Knex } from 'knex';

/** Mail received for the MFROM hosts (bounces and complaint reports), kept for inspection whatever became of it. */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';
  await knex.schema.createTable('inbound_messages', (t) => {
    t.bigIncrements('id');
    t.bigInteger('received_at').notNullable();
    t.string('mail_from', 320).notNullable().defaultTo('');
    t.text('rcpt_to').notNullable();
    t.integer('size').unsigned().notNullable();
    if (mysql) t.specificType('raw', 'LONGBLOB').notNullable();
    else t.binary('raw').notNullable();
    t.string('kind', 8).notNullable(); // dsn | arf | unknown
    t.string('status', 12).notNullable(); // processed | unmatched | unparsed
    t.text('note').notNullable();
    t.bigInteger('delivery_id').unsigned().nullable();
    t.index(['received_at']);
    t.index(['status', 'received_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('inbound_messages');
}
