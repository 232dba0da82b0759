import type { Knex } from 'knex';

/** A gate at one statement of a test's knex client, for races made at a chosen statement (see atStatement). */
export interface Gate<T> {
  /** Whether a statement matched (and `step` was started). */
  fired: boolean;
  /** What `step` answered; set once fired. */
  result?: Promise<T>;
  restore(): void;
}

/**
 * Runs `step` at one statement of `db`: the first one sent outside a transaction whose SQL and bindings match, either
 * just before it (before it takes a connection) or just after it answered (its connection given back), and lets
 * the caller's code go on only once `step` is done. Wraps the test's own knex client (no module mocking); a
 * transaction's statements run on a client of their own and never match.
 */
export function atStatement<T>(db: Knex, when: 'before' | 'after', match: (sql: string, bindings: unknown[]) => boolean, step: () => Promise<T>): Gate<T> {
  type Runner = { run(): Promise<unknown> };
  const client = db.client as { runner(builder: { toSQL(): Knex.Sql | Knex.Sql[] }): Runner };
  const original = client.runner;
  const gate: Gate<T> = {
    fired: false,
    restore: () => {
      client.runner = original;
    },
  };
  client.runner = function (this: unknown, builder) {
    const runner = original.call(this, builder);
    if (gate.fired) return runner;
    const statements = ([] as Knex.Sql[]).concat(builder.toSQL());
    if (!statements.some((s) => match(s.sql, [...(s.bindings ?? [])]))) return runner;
    gate.fired = true;
    const run = runner.run.bind(runner);
    const stepped = () => (gate.result = step()).catch(() => undefined); // its failure is the test's to see
    runner.run = async () => {
      if (when === 'before') {
        await stepped();
        return run();
      }
      const res = await run();
      await stepped();
      return res;
    };
    return runner;
  };
  return gate;
}
