import type { Knex } from 'knex';
import type { EventInput } from '../events/record';

/** Keeps the statistics rollups current as events are recorded (called inside the event's transaction). */
export async function applyRollups(_trx: Knex | Knex.Transaction, _events: EventInput[]): Promise<void> {
  // Filled in by the statistics work (issue #5).
}
