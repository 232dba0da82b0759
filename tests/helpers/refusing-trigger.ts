import type { Knex } from 'knex';
import { backend } from './harness';

/**
 * Makes the test's own database refuse `op` on `table` while `when` (an SQL condition on NEW, on OLD for a DELETE, or
 * '1 = 1') holds: a store failure at one chosen statement, through the real driver. `fault` says how it fails on
 * MariaDB: `outage` as max_statement_time does (errno 1969, which the outage classifier reads as "not answering"),
 * `error` as any other refusal (SQLSTATE 45000; a full disk, say). SQLite aborts either way. Drop it with
 * `DROP TRIGGER name`.
 */
export async function refuseWith(
  db: Knex,
  name: string,
  rule: { table: string; op: 'INSERT' | 'UPDATE' | 'DELETE'; when?: string; fault: 'outage' | 'error'; message?: string },
): Promise<void> {
  const when = rule.when ?? '1 = 1';
  const message = (rule.message ?? 'refused (test)').replace(/'/g, "''");
  const signal =
    rule.fault === 'outage'
      ? `SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1969, MESSAGE_TEXT = '${message}'`
      : `SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${message}'`;
  await db.raw(
    backend() === 'sqlite'
      ? `CREATE TRIGGER ${name} BEFORE ${rule.op} ON ${rule.table} WHEN ${when} BEGIN SELECT RAISE(ABORT, '${message}'); END`
      : `CREATE TRIGGER ${name} BEFORE ${rule.op} ON ${rule.table} FOR EACH ROW BEGIN IF ${when} THEN ${signal}; END IF; END`,
  );
}
