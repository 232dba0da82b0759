import type { Knex } from 'knex';

/**
 * A relayed delivery's lease and settle without growing its row (issue 15, relay; bench/README 2026-12-04 "in place").
 * Leasing set `lease_until` and `lease_owner` from NULL to values and `status` from 'queued' to 'sending'; settling
 * set `finished_at` and `last_reply` from NULL. Each size change made MariaDB delete and re-insert the record, and on
 * a full page reorganise it, logging most of the page: ~2.6 KB of redo per lease. With fixed widths the lease and a
 * first-attempt delivered settle update the row in place: a CHAR status, `lease_until` 0 for "no lease",
 * `lease_owner` '' for "never leased" (CHAR in a one-byte charset: owners are host:pid:role:hex, see lease-owner.ts),
 * `finished_at` 0 for "not finished". (`last_reply` stays NULL on a delivered row without an earlier reply: the 250
 * reply is in its `delivered` event, where lookup.ts reads it.) On SQLite only the NULLs and defaults change.
 * Rebuilds `deliveries` on both (an ALTER that changes column types copies the table).
 */
export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'mysql2') {
    // One pass over the table, not three UPDATEs of every row (each one transaction, its undo the table's size) and
    // then the copy: without strict mode the copy itself writes a NULL as the column's default (0, ''). The
    // migration runs in a transaction, so this connection is the one the ALTER uses; its mode is put back after.
    const [[{ mode }]] = (await knex.raw('select @@session.sql_mode as mode')) as [[{ mode: string }]];
    const lenient = mode
      .split(',')
      .filter((m) => m !== 'STRICT_TRANS_TABLES' && m !== 'STRICT_ALL_TABLES')
      .join(',');
    await knex.raw('set session sql_mode = ?', [lenient]);
    try {
      await knex.raw(
        'alter table `deliveries` modify `status` char(12) not null, modify `lease_until` bigint not null default 0, ' +
          "modify `lease_owner` char(64) character set ascii not null default '', modify `finished_at` bigint not null default 0",
      );
    } finally {
      await knex.raw('set session sql_mode = ?', [mode]);
    }
    return;
  }
  await knex('deliveries').whereNull('lease_until').update({ lease_until: 0 });
  await knex('deliveries').whereNull('lease_owner').update({ lease_owner: '' });
  await knex('deliveries').whereNull('finished_at').update({ finished_at: 0 });
  await knex.schema.alterTable('deliveries', (t) => {
    t.bigInteger('lease_until').notNullable().defaultTo(0).alter();
    t.string('lease_owner', 64).notNullable().defaultTo('').alter();
    t.bigInteger('finished_at').notNullable().defaultTo(0).alter();
  });
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'mysql2') {
    await knex.raw(
      'alter table `deliveries` modify `status` varchar(12) not null, modify `lease_until` bigint null, ' +
        'modify `lease_owner` varchar(64) character set utf8mb4 null, modify `finished_at` bigint null',
    );
  } else {
    await knex.schema.alterTable('deliveries', (t) => {
      t.bigInteger('lease_until').nullable().alter();
      t.string('lease_owner', 64).nullable().alter();
      t.bigInteger('finished_at').nullable().alter();
    });
  }
  await knex('deliveries').where('lease_until', 0).update({ lease_until: null });
  await knex('deliveries').where('lease_owner', '').update({ lease_owner: null });
  await knex('deliveries').where('finished_at', 0).update({ finished_at: null });
}
