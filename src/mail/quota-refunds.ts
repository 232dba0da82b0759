import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { isMysql } from '../db';
import type { Logger } from '../logger';

/**
 * What a reservation took: `n` sends on each of `taken`'s periods of the user's counters. Plain data, so a refund the
 * store refused can be recorded in it (src/mail/quota-refunds.ts) and given back by another process or a later start.
 */
export interface Reservation {
  user: number;
  n: number;
  taken: string[];
}

/**
 * Gives back what a reservation took, in one statement. Never below zero: a counter someone set lower meanwhile (an
 * operator's hand refund) must not fail for ever on the unsigned column. Run it only through `applyRefund`, whose
 * token makes it happen once.
 */
export async function giveBack(db: Knex | Knex.Transaction, r: Reservation): Promise<void> {
  await db('usage_counters')
    .where({ user_id: r.user })
    .whereIn('period', r.taken)
    .update({ sent: db.raw('case when `sent` >= ? then `sent` - ? else 0 end', [r.n, r.n]) });
}

/**
 * The rows a failed send would have written: asked before a refund whether its COMMIT landed after all. A pending
 * batch names its first message too: once expanded (src/mail/expand-batches.ts) its pending_batches row is deleted,
 * and only the message shows the send was written.
 */
export interface WrittenMark {
  messageId?: string;
  pendingId?: string;
}

/** The table of refunds the store refused (migrations/20270105000100_create_quota_refunds.ts). */
export const REFUNDS_TABLE = 'quota_refunds';

/** How long a refused refund is tried again in the background, and the longest wait between tries. */
const REFUND_FOR_MS = 10 * 60_000;
const REFUND_MAX_WAIT_MS = 30_000;

interface Pending {
  r: Reservation;
  mark?: WrittenMark;
  /** Its quota_refunds row's key, made at the first try: every try and the record name it, so it lands once. */
  token: string;
  /** Whether the store took its record (a waiting quota_refunds row that any process's sweep gives back). */
  recorded: boolean;
  timer: NodeJS.Timeout | null;
  /** The try under way: a shutdown waits for it rather than giving the same periods back beside it. */
  running: Promise<boolean> | null;
}

type Log = Pick<Logger, 'info' | 'warn' | 'error'>;

const about = (p: Pending) => ({ user: p.r.user, sends: p.r.n, periods: [...p.r.taken], token: p.token });

async function wasWritten(db: Knex | Knex.Transaction, mark: WrittenMark | undefined): Promise<boolean> {
  if (mark?.pendingId && (await db('pending_batches').where({ id: mark.pendingId }).first('id'))) return true;
  if (mark?.messageId) return !!(await db('messages').where({ id: mark.messageId }).first('id'));
  return false;
}

/** How long a settled refund's row is kept: far longer than a try of its token can still come (10 minutes, then a stop). */
const SETTLED_KEEP_MS = 24 * 3600_000;

/**
 * Gives refund `token` back, exactly once: in one transaction, its quota_refunds row is written if there is none yet
 * (the first try; a recorded one holds the same reservation), read (locked on MariaDB), the counters given back unless
 * the send was written after all, and the row marked settled (`applied_at`). A try whose answer was lost after its
 * COMMIT, a record applied by another process meanwhile, or the next start's sweep then find the row settled and
 * give nothing back. False when it was already settled. Written before it is read, so two refunds at once lock only
 * their own rows (a locking read of a missing row would lock the gap, and two first tries would deadlock); two tries
 * of one token at once on MariaDB: one waits, or fails as a deadlock and is tried again later. SQLite writes one at a
 * time.
 */
export async function applyRefund(db: Knex, token: string, r: Reservation, mark?: WrittenMark): Promise<boolean> {
  return db.transaction(async (trx) => {
    await trx(REFUNDS_TABLE)
      .insert(recordOf(token, r, mark, Date.now()))
      .onConflict('token')
      .ignore();
    const q = trx(REFUNDS_TABLE).where({ token });
    // SQLite has one writer at a time: nothing to lock (and knex warns on forUpdate there).
    const row = await (isMysql(trx) ? q.forUpdate() : q).first();
    if (row.applied_at !== null) return false;
    const what = fromRow(row);
    if (!(await wasWritten(trx, what.mark))) await giveBack(trx, what.r);
    await trx(REFUNDS_TABLE).where({ token }).update({ applied_at: Date.now() });
    return true;
  });
}

function recordOf(token: string, r: Reservation, mark: WrittenMark | undefined, now: number) {
  return {
    token,
    user_id: r.user,
    periods: r.taken.join(','),
    sent: r.n,
    message_id: mark?.messageId ?? null,
    pending_id: mark?.pendingId ?? null,
    created_at: now,
  };
}

function fromRow(row: Record<string, unknown>): { r: Reservation; mark: WrittenMark } {
  return {
    r: { user: Number(row.user_id), n: Number(row.sent), taken: String(row.periods).split(',') },
    mark: { messageId: (row.message_id as string | null) ?? undefined, pendingId: (row.pending_id as string | null) ?? undefined },
  };
}

/**
 * Gives back the refunds recorded by any process (a stopped or crashed one's too), oldest first; returns how many.
 * Drops the rows settled more than a day ago.
 */
export async function applyRecordedRefunds(db: Knex, logger: Log): Promise<number> {
  const rows: Record<string, unknown>[] = await db(REFUNDS_TABLE).whereNull('applied_at').orderBy('id').limit(1000);
  let applied = 0;
  for (const row of rows) {
    const { r, mark } = fromRow(row);
    if (await applyRefund(db, String(row.token), r, mark)) applied++;
  }
  await db(REFUNDS_TABLE)
    .where('applied_at', '<', Date.now() - SETTLED_KEEP_MS)
    .delete();
  if (applied) logger.info('recorded quota refunds given back', { refunds: applied });
  return applied;
}

/**
 * The process's quota refunds that the store refused (Services.refunds). The outage that failed a send often fails
 * its refund too. So a refused refund is first recorded as a quota_refunds row, in the same store as the counters:
 * it survives a crash or a stop, and the next start (or a worker's sweep) applies it. Every try and the record name
 * the refund's token (applyRefund), so it lands exactly once, even when an answer is lost after its write. Meanwhile it is tried again in the background, doubling from 200 ms, for
 * up to ten minutes. On a graceful stop (settle) each one left is tried once more within the shutdown budget; one the
 * store took neither as a refund nor as a row is logged as an error with the user, sends and periods, for an operator
 * to give back by hand. A refund held only in memory when the process dies is lost (its warn line says what it was).
 */
export class QuotaRefunds {
  private readonly pending = new Set<Pending>();
  /** Set by settle (a graceful stop): from then on a refund's background tries end, and the stop accounts for it. */
  private closed = false;

  constructor(
    private readonly db: Knex,
    private readonly logger: Log,
  ) {}

  /**
   * Gives a reservation back (its send was not committed), never throwing: resolves once it is given back, recorded or
   * handed to the background. `mark` (when given) is asked first, each try: a send whose COMMIT landed though its
   * answer was lost (a timeout, a dropped connection) is delivered, so its reservation stands.
   */
  async refund(r: Reservation, mark?: WrittenMark): Promise<void> {
    if (!r.taken.length) return;
    // Handed over once: the same reservation refunded again (by a caller's second path) gives nothing back twice.
    const p: Pending = { r: { ...r, taken: r.taken.splice(0) }, mark, token: crypto.randomUUID(), recorded: false, timer: null, running: null };
    // Waiting from the first try on: a send that failed in an outage answers before its refund is through, and a stop
    // right after must find it (settle awaits the try and its record) rather than close the store under it.
    this.pending.add(p);
    let error: unknown;
    const first = async (): Promise<boolean> => {
      try {
        await this.attempt(p);
        return true;
      } catch (err) {
        error = err;
      }
      p.recorded = await this.record(p);
      return false;
    };
    p.running = first().then((done) => {
      p.running = null;
      if (done) this.pending.delete(p);
      return done;
    });
    if (await p.running) return;
    this.logger.warn(
      !p.recorded
        ? 'quota refund failed and could not be recorded; trying again in the background'
        : 'quota refund failed; recorded, and tried again in the background',
      { ...about(p), error: (error as Error).message },
    );
    // A stop under way took it over (settle cleared it from pending); one that came before it cannot: logged here.
    if (this.closed) return void (this.pending.has(p) && this.leftAtStop(p));
    const until = Date.now() + REFUND_FOR_MS;
    const again = (wait: number) => {
      p.timer = setTimeout(async () => {
        p.timer = null;
        if (await this.tryOnce(p)) return;
        // A stop meanwhile took it over (settle): it is tried, recorded or logged there, not here for ten more minutes.
        if (this.closed) return;
        if (Date.now() + wait < until) return again(Math.min(wait * 2, REFUND_MAX_WAIT_MS));
        this.pending.delete(p);
        p.recorded ||= await this.record(p);
        if (p.recorded) this.logger.warn('quota refund still refused; left recorded for the next start or sweep to give back', about(p));
        else this.logger.error('quota refund given up: give it back by hand (the counter stays as it is until its period ends)', about(p));
      }, wait).unref();
    };
    again(200);
  }

  /** Refunds still waiting for the store (for /metrics-style checks and tests). */
  get waiting(): number {
    return this.pending.size;
  }

  /**
   * For a graceful stop: each refund still waiting is tried once more (or recorded) within `budgetMs`; what is left
   * is logged as an error with the user, sends and periods. A recorded one is not lost: the next start applies it.
   */
  async settle(budgetMs: number): Promise<void> {
    this.closed = true;
    if (!this.pending.size) return;
    const all = [...this.pending];
    for (const p of all) if (p.timer) clearTimeout(p.timer);
    this.pending.clear();
    const settled = new Set<Pending>();
    const one = async (p: Pending) => {
      if (await p.running?.catch(() => false)) return void settled.add(p);
      if (await this.tryOnce(p)) return void settled.add(p);
      p.recorded ||= await this.record(p);
      if (p.recorded) settled.add(p);
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(all.map(one)), new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, budgetMs))))]);
    clearTimeout(timer);
    for (const p of all) if (!settled.has(p)) this.leftAtStop(p);
  }

  /** What a stop leaves of a refund: recorded (the next start gives it back), or lost and logged for an operator. */
  private leftAtStop(p: Pending): void {
    this.pending.delete(p);
    if (p.recorded) this.logger.warn('quota refund left recorded at shutdown; the next start gives it back', about(p));
    else this.logger.error('quota refund lost at shutdown: the store took neither it nor its record; give it back by hand', about(p));
  }

  /** One try, never two at once for the same refund; true once it is given back (or found written after all). */
  private tryOnce(p: Pending): Promise<boolean> {
    return (p.running ??= this.attempt(p)
      .then(
        () => true,
        () => false,
      )
      .then((done) => {
        p.running = null;
        if (done) this.pending.delete(p);
        return done;
      }));
  }

  private async attempt(p: Pending): Promise<void> {
    await applyRefund(this.db, p.token, p.r, p.mark);
  }

  /**
   * Records the refund as its token's waiting quota_refunds row; whether the store has it. Its token's row there
   * already (a record or a try whose answer was lost) counts as recorded: it is given back, or was, once.
   */
  private async record(p: Pending): Promise<boolean> {
    try {
      // A transaction like every write of a refund (applyRefund): its COMMIT is the one place an answer is lost.
      await this.db.transaction((trx) => trx(REFUNDS_TABLE).insert(recordOf(p.token, p.r, p.mark, Date.now())));
      return true;
    } catch {
      return !!(await this.db(REFUNDS_TABLE)
        .where({ token: p.token })
        .first('id')
        .catch(() => undefined));
    }
  }
}
