import type { Knex } from 'knex';
import { Coalescer } from '../coalesce';
import { abandonedThread, affectedRows, placeholders, quoteId, sql, statementTimeout, Stmt } from '../db';
import { recordEvents } from '../events/record';
import { parseTags } from '../mail/tags';
import { isOutage } from '../outage';
import { recordByDeadline } from '../retry/record-by-deadline';
import { Hook, subscribable, subscriptionsOf } from '../webhooks/outbox';
import { bodyReadTimeoutMs } from './body-read-timeout';
import type { BudgetHold } from './byte-budget';
import { createLeaseGiveBack } from './lease-giveback';
import { Leased, PENDING, Settlement, WorkerCtx } from './worker-ctx';

/**
 * Sets different values on many rows in one UPDATE: `col = CASE id WHEN … THEN … ELSE col END` for each
 * column some row sets, plus the columns every row gets alike. A column every row sets to the same scalar (a
 * settle group's `status`, `attempts`, `bounce_class`) is a plain `col = ?`: a shorter statement for MariaDB to parse
 * and evaluate per row.
 */
export function updateByCase(
  db: Knex | Knex.Transaction,
  table: string,
  rows: { id: number; values: Record<string, unknown> }[],
  common: Record<string, unknown>,
  where: Record<string, string | number> = {},
  /** Per column, each row's own value it must still hold (`rows` order): `col = CASE id WHEN … THEN … END`. */
  whereEach: Record<string, unknown[]> = {},
): Stmt {
  // Column and table names come from this module's code, never from input; every value is a bound `?`.
  const q = quoteId;
  const sets: string[] = [];
  const bindings: unknown[] = [];
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  for (const c of columns) {
    const having = rows.filter((r) => c in r.values);
    const first = having[0].values[c] ?? null;
    if (having.length === rows.length && isScalar(first) && having.every((r) => (r.values[c] ?? null) === first)) {
      sets.push(`${q(c)} = ?`);
      bindings.push(first);
      continue;
    }
    sets.push(`${q(c)} = CASE \`id\` ${having.map(() => 'WHEN ? THEN ?').join(' ')} ELSE ${q(c)} END`);
    for (const r of having) bindings.push(r.id, r.values[c] ?? null);
  }
  for (const [c, v] of Object.entries(common)) {
    sets.push(`${q(c)} = ?`);
    bindings.push(v);
  }
  const conditions = Object.entries(where);
  const each = Object.entries(whereEach);
  const text =
    `UPDATE ${q(table)} SET ${sets.join(', ')} WHERE \`id\` IN ${placeholders(rows.length)}${conditions.map(([c]) => ` AND ${q(c)} = ?`).join('')}` +
    each.map(([c]) => ` AND ${q(c)} = CASE \`id\` ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END`).join('');
  const eachBindings = each.flatMap(([, vs]) => rows.flatMap((r, k) => [r.id, vs[k]]));
  return sql(db, text, [...bindings, ...rows.map((r) => r.id), ...conditions.map(([, v]) => v), ...eachBindings]);
}

/** Values compared with `===` (a Buffer or Date never is: equal contents, different objects). */
function isScalar(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';
}

/**
 * The status of the leased message's campaign (`m`), read as of the lease so a delivery of a cancelled campaign is
 * cancelled, not sent (send-attempt.ts). Only campaign messages run the lookup (a primary-key read); the others,
 * most of the traffic, get null without it. A campaign message whose campaign row is gone reads as cancelled: null
 * would make its copy ordinary mail (sent, checked against the install's suppression patterns and not against its
 * list's members, suppressed-since.ts) when a copy of a campaign no one can see or cancel any more must not go out.
 */
const CAMPAIGN_STATUS_OF_M =
  "case when m.`campaign_id` is not null then coalesce((select c.`status` from `campaigns` c where c.`id` = m.`campaign_id`), 'cancelled') end";

/** The last wait before a lease group whose round trip failed stops asking again (200 ms doubling: 3 s in all). */
const LEASE_RETRY_MAX_MS = 1600;

/** A worker's way to the database: take leases on deliveries, record attempts' outcomes. Both in groups. */
export interface LeaseSettle {
  /**
   * The delivery, leased to this worker with its MIME; null when it is not due, leased elsewhere or gone. With a
   * `hold` on the worker's byte budget, the hold is resized to the body's bytes; a body over `bodyMaxBytes` is
   * read only once the budget has room for it (see createLeaseSettle). Rejects with UnreadLease when it failed after
   * taking the row (the caller gives it back).
   */
  lease(deliveryId: number, hold?: BudgetHold): Promise<Leased | null>;
  /** Records an outcome (status, event, suppression) while the lease is still ours; false when it was taken over. */
  settle(item: Settlement): Promise<boolean>;
  /** Ends the background give-backs of failed lease groups (see lease-giveback.ts). */
  stop(): void;
}

/** A leased row as the lease group reads it: with its body's bytes, and whether the body was left out (too big). */
type LeasedRow = Leased & { bytes: number; withheld: boolean };

/**
 * lease() failed after its group took the row (its withheld body's read, its budget hold): the row is still leased to
 * this worker, stamped with one of `stamps` (a renewal whose answer was lost may have committed), for the caller to
 * give back. The failure itself is the `cause`.
 */
export class UnreadLease extends Error {
  constructor(
    readonly leased: Leased,
    readonly stamps: number[],
    cause: unknown,
  ) {
    super(`delivery ${leased.id} leased but not read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * Leases and settlements of one worker: concurrent calls are coalesced into one lease statement pair and one
 * settle transaction per group, so a busy worker pays round trips per group, not per delivery.
 * `bodyMaxBytes`: the biggest body a lease group reads with its rows (the worker's byte budget over its
 * concurrency). A bigger one is left out of the group's result, so one group cannot pull in gigabytes; its delivery
 * reads it alone once its budget hold has grown to fit it. Unset: every body comes with its row.
 */
export function createLeaseSettle(ctx: Pick<WorkerCtx, 'services' | 'owner'>, opts: { bodyMaxBytes?: number } = {}): LeaseSettle {
  const { db, config } = ctx.services;
  const { owner, services } = ctx;
  const bodyMax = opts.bodyMaxBytes ?? Number.MAX_SAFE_INTEGER;
  /** Each lease flush stamps its rows with its own lease_until, so it reads back exactly the rows it took. */
  let lastUntil = 0;
  const nextUntil = () => (lastUntil = Math.max(lastUntil + 1, Date.now() + config.leaseSeconds * 1000));
  const giveBacks = createLeaseGiveBack(ctx);

  /**
   * Leases many deliveries in one round trip: an UPDATE takes the due, unleased ones; a SELECT reads them; another
   * reads each of their messages' bodies once. A message to 150 recipients with a 25 MiB attachment had its body
   * read once per delivery in the group (gigabytes in one result).
   */
  async function leaseGroup(ids: number[]): Promise<(LeasedRow | null)[]> {
    const until = nextUntil();
    const unique = [...new Set(ids)];
    // The UPDATE commits on its own: when the answer is lost (a statement timeout on a busy server), the rows may be
    // stamped and ours for LEASE_SECONDS with no one sending them. Asking again with the same stamp is safe (rows
    // stamped already are not taken twice; the SELECTs read back every row with this stamp), so the group tries
    // again before it gives up. Then whatever carries its stamp is given back in the background, so a short outage
    // does not strand its rows for LEASE_SECONDS; the caller's error comes at once.
    // A try given up on may still be running on the server and commit after the give-back has looked: the give-back
    // looks again once those threads are gone (lease-giveback.ts).
    const threads: number[] = [];
    const ask = () =>
      leaseStamped(ids, unique, until).catch((err: unknown) => {
        const thread = abandonedThread(err);
        if (thread !== undefined) threads.push(thread);
        throw err;
      });
    try {
      return await askAgain(ask, until);
    } catch (err) {
      giveBacks.giveBack(unique, until, threads);
      throw err;
    }
  }

  /** `ask` again after an outage (200 ms doubling, up to LEASE_RETRY_MAX_MS), while the lease stamped `until` lasts. */
  async function askAgain<T>(ask: () => Promise<T>, until: number): Promise<T> {
    for (let wait = 200; ; wait *= 2) {
      try {
        return await ask();
      } catch (err) {
        if (!isOutage(err) || wait > LEASE_RETRY_MAX_MS || Date.now() + wait >= until) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async function leaseStamped(ids: number[], unique: number[], until: number): Promise<(LeasedRow | null)[]> {
    const now = Date.now();
    // Take the due, unleased rows, then read back exactly the ones this call stamped: one round trip on MySQL.
    const inList = placeholders(unique.length);
    const stamped = `d.\`id\` in ${inList} and d.\`lease_owner\` = ? and d.\`lease_until\` = ?`;
    // The leased rows and their messages' bodies come in one statement (a UNION ALL: `part` 0 the rows, 1 a body),
    // which costs MariaDB one statement's fixed cost per group instead of two.
    const [, both] = (await services.store.runTogether([
      sql(
        db,
        // The stamp alone is the lease (leased.ts): the status stays the waiting one until the settle writes the
        // outcome, so no index that holds the status changes here.
        'update `deliveries` set `lease_owner` = ?, `lease_until` = ?, `updated_at` = ? ' +
          `where \`id\` in ${inList} and \`status\` in ${placeholders(PENDING.length)} and \`next_attempt_at\` <= ? and \`lease_until\` < ?`,
        // An expired lease is taken only after its grace, as the sweeper waits: its worker may still be recording the
        // outcome of a send it made while the database was away (settleDurably tries until then). No lease: 0.
        [owner, until, now, ...unique, ...PENDING, now + 1000, now - config.sweepGraceSeconds * 1000],
      ),
      sql(
        db,
        'select 0 as `part`, d.`id`, d.`message_id`, d.`user_id`, d.`domain_id`, d.`recipient`, d.`attempts`, d.`created_at`, d.`held_ms`, d.`last_reply` is not null as `had_reply`, ' +
          'case when length(d.`mime`) <= ? then d.`mime` end as `mime`, d.`lease_until`, d.`track_id`, ' +
          `m.\`id\` AS \`found_message\`, m.\`tags\`, m.\`send_at\`, (select s.\`status\` from \`sender_domains\` s where s.\`id\` = d.\`domain_id\`) as \`domain_status\`, (select u.\`account_status\` from \`users\` u where u.\`id\` = d.\`user_id\`) as \`account_status\`, ${CAMPAIGN_STATUS_OF_M} as \`campaign_status\`, m.\`list_id\`, m.\`list_send\`, null as \`body_mime\`, null as \`body_content\`, length(d.\`mime\`) as \`bytes\` from \`deliveries\` d left join \`messages\` m on m.\`id\` = d.\`message_id\` where ${stamped} ` +
          // A personalised or tracked copy of an older release rides on its delivery row; otherwise the message's MIME
          // (SMTP front) or stored content (API) is what is sent: read once per message, not once per delivery. Bodies
          // over bodyMax stay behind (their length comes instead). The domain's status is read as of the lease (a
          // worker's cached domain row may be seconds old): a suspended one's delivery is held, not sent. So is the
          // campaign's: a cancelled campaign's delivery is cancelled, not sent.
          'union all select 1, null, m.`id`, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, ' +
          'case when coalesce(length(m.`mime`), 0) + coalesce(length(m.`content`), 0) <= ? then m.`mime` end, ' +
          'case when coalesce(length(m.`mime`), 0) + coalesce(length(m.`content`), 0) <= ? then m.`content` end, ' +
          'coalesce(length(m.`mime`), 0) + coalesce(length(m.`content`), 0) from `messages` m where m.`id` in ' +
          `(select d.\`message_id\` from \`deliveries\` d where ${stamped} and d.\`mime\` is null)`,
        [bodyMax, ...unique, owner, until, bodyMax, bodyMax, ...unique, owner, until],
      ),
    ])) as [
      unknown,
      (Omit<Leased, 'message_mime' | 'content'> & {
        part: number | string;
        body_mime: Buffer | null;
        body_content: Buffer | string | null;
        bytes: number | string | null;
      })[],
    ];
    const rows: (Omit<Leased, 'message_mime' | 'content'> & { bytes: number | string | null })[] = [];
    const bodies: { id: string; mime: Buffer | null; content: Buffer | string | null; bytes: number }[] = [];
    for (const { part, body_mime, body_content, ...r } of both) {
      if (Number(part) === 0) rows.push(r);
      else bodies.push({ id: r.message_id, mime: body_mime, content: body_content, bytes: Number(r.bytes) });
    }
    const bodyOf = new Map(bodies.map((b) => [b.id, b]));
    const byId = new Map(
      rows.map(({ bytes: own, ...r }): [number, LeasedRow] => {
        // Its own copy (`bytes` not null) or the message's body; either left out when over bodyMax.
        if (own !== null) return [Number(r.id), { ...r, message_mime: null, content: null, bytes: Number(own), withheld: Number(own) > bodyMax }];
        const body = bodyOf.get(r.message_id);
        const bytes = body?.bytes ?? 0;
        return [Number(r.id), { ...r, message_mime: body?.mime ?? null, content: body?.content ?? null, bytes, withheld: bytes > bodyMax }];
      }),
    );
    // The same delivery asked for twice in one group (a sweeper's job next to the original) is sent once.
    return ids.map((id) => {
      const r = byId.get(id) ?? null;
      byId.delete(id);
      return r;
    });
  }
  const leaser = new Coalescer<number, LeasedRow | null>(leaseGroup, {
    name: 'lease',
    maxItems: 200,
    maxInFlight: 2,
    observe: services.metrics.groupSize('lease'),
  });

  /** Records many outcomes in one transaction: status rows (one UPDATE), events, rollups, webhooks, suppressions. */
  async function settleGroup(items: Settlement[]): Promise<boolean[]> {
    return services.store.batchTransaction(async (tx) => {
      // The same delivery twice in one group cannot happen while leases hold; keep the first if it ever does.
      const seen = new Set<number>();
      const once = items.filter((i) => !seen.has(Number(i.d.id)) && !!seen.add(Number(i.d.id)));
      const ids = once.map((i) => Number(i.d.id));
      // Our lease can be taken over when it expired mid-send, by another worker or by this one (the owner name is per
      // worker): the new holder records that outcome. A lease is ours only while its row keeps our stamp (lease_until),
      // so the UPDATE matches owner and stamp. The webhook subscriptions the events may need are read in the same round
      // trip (in the same transaction), when a webhook can subscribe to any of them.
      const hooked = once.filter((i) => subscribable(i.type));
      const [updated, subscribed] = (await tx.run([
        updateByCase(
          tx.q,
          'deliveries',
          once.map((i) => ({ id: Number(i.d.id), values: { ...i.update, attempts: i.attempts, updated_at: i.done } })),
          { lease_until: 0 },
          { lease_owner: owner },
          { lease_until: once.map((i) => Number(i.d.lease_until)) },
        ),
        ...(hooked.length
          ? [
              subscriptionsOf(
                tx.q,
                hooked.map((i) => Number(i.d.domain_id)),
                hooked.map((i) => Number(i.d.user_id)),
              ),
            ]
          : []),
      ])) as [unknown, Hook[] | undefined];
      let mine = once;
      if (affectedRows(updated) < once.length) {
        // Some were not ours any more: ours are the rows this UPDATE just wrote (still locked by this transaction on
        // MySQL), found by the lease it cleared and each item's own time. Only then: a pre-read in every group was a
        // statement more per group, some 0.2 per delivered message.
        const [rows] = (await tx.run([
          tx.q('deliveries').whereIn('id', ids).where('lease_owner', owner).where('lease_until', 0).select('id', 'updated_at'),
        ])) as { id: number; updated_at: number }[][];
        const doneOf = new Map(once.map((i) => [Number(i.d.id), i.done]));
        const heldIds = new Set(rows.filter((r) => Number(r.updated_at) === doneOf.get(Number(r.id))).map((r) => Number(r.id)));
        mine = once.filter((i) => heldIds.has(Number(i.d.id)));
      }
      if (!mine.length) return items.map(() => false);
      const tags = new Map<string, string[]>();
      for (const i of mine) tags.set(i.d.message_id, parseTags(i.d.tags));
      await recordEvents(
        tx.q,
        mine.map((i) => ({
          message_id: i.d.message_id,
          delivery_id: Number(i.d.id),
          domain_id: Number(i.d.domain_id),
          user_id: Number(i.d.user_id),
          type: i.type,
          created_at: i.done,
          data: { recipient: i.d.recipient, attempts: i.attempts, seconds: Math.max(0, Math.round((i.done - Number(i.d.created_at)) / 1000)), ...i.data },
        })),
        { tags, subscribed },
        tx,
      );
      // Hard bounces: the recipient joins the domain's suppression list in the same commit (first reason stays).
      tx.later(
        mine
          .filter((i) => i.suppress)
          .map((i) =>
            tx
              .q('suppressions')
              .insert({
                domain_id: Number(i.d.domain_id),
                email: i.d.recipient.toLowerCase(),
                reason: 'hard_bounce',
                detail: i.suppress!.slice(0, 1000),
                created_at: i.done,
              })
              .onConflict(['domain_id', 'email'])
              .ignore(),
          ),
      );
      const recorded = new Set(mine);
      return items.map((i) => recorded.has(i));
    });
  }
  const settler = new Coalescer<Settlement, boolean>(settleGroup, {
    name: 'settle',
    maxItems: 200,
    maxInFlight: 1,
    observe: services.metrics.groupSize('settle'),
  });

  /**
   * The recipient's server has answered: the outcome must be recorded, or the sweeper would send the message again.
   * Whatever fails, keep trying (every second at most, so the record lands as soon as it can) until the sweeper may
   * take the row over: the lease's end plus its grace (see sweep). Not only outages: a settle that fails otherwise (a
   * full disk refusing the event INSERTs while UPDATEs still pass, a bug) left the row leased, and the sweeper sent
   * the message again every lease + grace for as long as it lasted. Past the deadline the row alone is written
   * (settleRowOnly), so it is never sent again; only its event is lost, and the log says so.
   */
  async function settleDurably(item: Settlement): Promise<boolean> {
    const context = { deliveryId: item.d.id, messageId: item.d.message_id, outcome: item.type };
    return recordByDeadline({
      until: Number(item.d.lease_until) + config.sweepGraceSeconds * 1000,
      maxWaitMs: 1000,
      record: () => settler.submit(item),
      rowOnly: async () => ((await settleRowOnly(item)) ? true : null),
      onFailure: (err) => services.logger.warn('delivery outcome not recorded; retrying', { ...context, error: err.message }),
      onRowOnly: (err) =>
        services.logger.error('delivery outcome recorded without its event: the event could not be written', { ...context, error: err.message }),
    });
  }

  /** The outcome on the delivery's row alone, in place, while the lease is still ours (no event, rollup or webhook). */
  async function settleRowOnly(item: Settlement): Promise<boolean> {
    const n = await db('deliveries')
      .where({ id: item.d.id, lease_owner: owner, lease_until: item.d.lease_until })
      .update({ ...item.update, attempts: item.attempts, updated_at: item.done, lease_until: 0 });
    return Number(n) > 0;
  }

  /**
   * One delivery's lease: in a group, then its budget hold sized to its body, and a body left out read alone. A
   * failure once the group has taken the row rejects with UnreadLease, so the caller gives the row back: a withheld
   * body's read that timed out (multi-MB on a loaded server) had left it leased and unsent for LEASE_SECONDS.
   */
  async function lease(deliveryId: number, hold?: BudgetHold): Promise<Leased | null> {
    const row = await leaser.submit(deliveryId);
    if (!row) return null;
    const { bytes, withheld, ...d } = row;
    const stamps = [Number(d.lease_until)];
    try {
      await hold?.resize(bytes);
      if (!withheld) return d;
      const until = nextUntil();
      stamps.push(until);
      return await askAgain(() => readWithheld(d, until, bytes), until);
    } catch (err) {
      throw new UnreadLease(d, stamps, err);
    }
  }

  /**
   * A body too big for the lease group, read once the budget had room. The wait may have been long, so the lease is
   * renewed (to `until`) in the same round trip; the SELECT reads the row only if it holds that stamp. So it may be
   * asked again after a lost answer: a renewal that committed left the stamp the SELECT looks for. Its statement
   * timeout grows with the body's `bytes` (body-read-timeout.ts).
   */
  async function readWithheld(d: Leased, until: number, bytes: number): Promise<Leased | null> {
    const timeoutMs = bodyReadTimeoutMs(statementTimeout(db), bytes);
    const [, rows] = (await services.store.runTogether(
      [
        sql(db, 'update `deliveries` set `lease_until` = ? where `id` = ? and `lease_owner` = ? and `lease_until` = ?', [until, d.id, owner, d.lease_until]),
        sql(
          db,
          'select d.`mime`, case when d.`mime` is null then m.`mime` end as `message_mime`, case when d.`mime` is null then m.`content` end as `content`, ' +
            // Its domain may have been suspended (or its campaign cancelled) while it waited: the statuses as of now.
            '(select s.`status` from `sender_domains` s where s.`id` = d.`domain_id`) as `domain_status`, ' +
            '(select u.`account_status` from `users` u where u.`id` = d.`user_id`) as `account_status`, ' +
            `${CAMPAIGN_STATUS_OF_M} as \`campaign_status\` ` +
            'from `deliveries` d left join `messages` m on m.`id` = d.`message_id` where d.`id` = ? and d.`lease_owner` = ? and d.`lease_until` = ?',
          [d.id, owner, until],
        ),
      ],
      { timeoutMs },
    )) as [unknown, Pick<Leased, 'mime' | 'message_mime' | 'content' | 'domain_status' | 'account_status' | 'campaign_status'>[]];
    if (!rows.length) return null; // taken over while it waited: the new owner sends it
    const r = rows[0];
    return {
      ...d,
      lease_until: until,
      mime: r.mime,
      message_mime: r.message_mime,
      content: r.content,
      domain_status: r.domain_status,
      account_status: r.account_status,
      campaign_status: r.campaign_status,
    };
  }

  return { lease, settle: settleDurably, stop: giveBacks.stop };
}
