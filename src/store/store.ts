import type { Db, BatchTx, Stmt } from '../db';
import type { Pattern } from '../suppression/pattern';
import { BatchPool } from './batch-pool';
import { Batchers } from './batchers';
import { CredentialCaches } from './credential-caches';
import { Memo } from './memo';
import { TrackIdPool } from '../tracking/tokens';
import { CampaignProgress, type ProgressOptions } from '../campaigns/progress';
import { ContactCounts, type ContactCountOptions } from '../lists/contact-count';

/** How long the install's suppression patterns are reused before they are read again. */
const PATTERNS_TTL_MS = 10_000;
/**
 * How long an accept group on the embedded store waits for more sends while they keep arriving (Coalescer gatherMs).
 * SQLite's statements are synchronous, so a group's transaction lets no request in, and each fresh connection is
 * taken on an event-loop turn of its own: without it, 40 concurrent API sends were 40 commits. MySQL's groups wait on
 * the network, and sends that arrive meanwhile form the next group.
 */
const EMBEDDED_GATHER_MS = 5;
/** Room left in a packet beside a message's body: the statement's text and the row's other columns. */
const PACKET_MARGIN = 1 << 20;

/**
 * The fast path's state, one per Services (built in buildServices): the batch pool and its transactions, the
 * group-commit batchers, the credential caches, the suppression patterns, the track-id pool and campaigns' counts.
 * Nothing of it lives in a module, so two Services in one process (two test apps) share nothing, and closing Services
 * closes the pool.
 */
export class Store {
  private readonly pool: BatchPool;
  readonly batchers = new Batchers();
  readonly credentials: CredentialCaches;
  readonly suppressionPatterns = new Memo<Pattern[]>(PATTERNS_TTL_MS);
  /** Track ids for accepted copies (src/tracking/tokens.ts). */
  readonly trackIds = new TrackIdPool();
  /** Campaigns' delivery counts, reused where counting is costly (src/campaigns/progress.ts). */
  readonly campaignProgress: CampaignProgress;
  /** Accounts' contact counts (account.overview), reused where counting is costly (src/lists/contact-count.ts). */
  readonly contactCounts: ContactCounts;
  private readonly packet = new Memo<number>(600_000);

  /** How long a group commit (accept, suppression lookup) runs before a second starts beside it (GROUP_COMMIT_OVERLAP_MS). */
  readonly groupOverlapMs: number;
  /** How long an accept group waits for more sends while they keep arriving: on the embedded store only (EMBEDDED_GATHER_MS). */
  readonly groupGatherMs: number;

  constructor(
    /** The database everything else uses as plain knex. */
    readonly db: Db,
    opts: {
      credentialTtlMs: number;
      maxCredentials?: number;
      groupOverlapMs?: number;
      campaignProgress?: ProgressOptions;
      contactCounts?: ContactCountOptions;
    },
  ) {
    this.campaignProgress = new CampaignProgress(opts.campaignProgress ?? { page: 20_000, liveMs: 50 });
    this.contactCounts = new ContactCounts(opts.contactCounts ?? { page: 20_000, liveMs: 50 });
    this.groupOverlapMs = opts.groupOverlapMs ?? 0;
    this.groupGatherMs = db.client.config.client === 'mysql2' ? 0 : EMBEDDED_GATHER_MS;
    this.pool = new BatchPool(db);
    this.credentials = new CredentialCaches(opts.credentialTtlMs, opts.maxCredentials);
  }

  /** A group-commit transaction (see BatchTx): on MySQL on the multi-statement pool, on SQLite a knex transaction. */
  batchTransaction<T>(fn: (tx: BatchTx) => Promise<T>): Promise<T> {
    return this.pool.transaction(fn);
  }

  /** Opens the batch pool's connections for `groupsInFlight` group commits before the first one needs them (see BatchPool.warm). */
  warm(groupsInFlight: number): Promise<void> {
    return this.pool.warm(groupsInFlight);
  }

  /**
   * Outside a transaction: the statements in one round trip on MySQL (each autocommitted in order), in turn elsewhere.
   * `timeoutMs` replaces DB_QUERY_TIMEOUT_MS for each of them (MySQL).
   */
  runTogether(stmts: Stmt[], opts?: { timeoutMs?: number }): Promise<unknown[]> {
    return this.pool.runTogether(stmts, opts);
  }

  /**
   * The largest message body (stored content or MIME) one row can take. A message's row goes in one statement, and
   * MySQL refuses a packet over its max_allowed_packet (16 MiB on MariaDB as installed): the statement failed, and
   * with it the group commit of every other sender in that group. Read at most every 10 minutes; no limit on SQLite.
   */
  maxRowBytes(): Promise<number> {
    if (this.db.client.config.client !== 'mysql2') return Promise.resolve(Infinity);
    return this.packet.get(async () => {
      const [rows] = await this.db.raw('SELECT @@max_allowed_packet AS packet');
      return Number((rows as { packet: number | string }[])[0].packet) - PACKET_MARGIN;
    });
  }

  /** After a management command: this process forgets every cached credential and domain. */
  forgetCredentials(): void {
    this.credentials.forgetAll();
  }

  /**
   * Closes the batch pool once any campaign or contact recount has ended, so none runs on a closing database (the database
   * itself is closed by its owner: closeServices).
   */
  async close(): Promise<void> {
    await Promise.all([this.campaignProgress.idle(), this.contactCounts.idle()]);
    return this.pool.close();
  }
}
