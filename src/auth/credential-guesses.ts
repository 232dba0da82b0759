import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Limit, RateLimits } from '../ratelimit/limits';
import { clientPrefix } from './client-prefix';

const WINDOW_SEC = 15 * 60;
/** Clients this process remembers as over the limit; past it the least recently refused are forgotten (and counted again). */
const MAX_REMEMBERED = 50_000;

/**
 * Refused credentials per client (an IPv6 client by its /64) on every HTTP door, past the login commands' own throttle:
 * a wrong AdminAPIKey, APIKey, SessionID or sender key answered its auth code without limit, so an operator-chosen
 * ADMIN_API_KEY could be guessed at the server's request rate.
 *
 * Only different credentials count: a client that keeps sending one revoked key or expired session (a misconfigured
 * integration beside good ones behind the same address) counts once per window, while a guesser's every try is new.
 * Past `max` in 15 minutes, every credential from the client, right or wrong, is refused until the window ends, so a
 * refusal tells nothing about the key tried.
 *
 * The hot path costs no round trip: counting happens only on a refusal, and each process keeps the clients it has
 * found over the limit. Another process learns of a client at its next refusal there, so a guesser gets at most one
 * try more per process.
 */
export class CredentialGuesses {
  /** Made at the first client found over the limit: lru-cache fills arrays of all 50,000 slots as it is made (~10 ms). */
  private blocked: LRUCache<string, number> | null = null;
  private readonly distinct: Limit;
  private readonly seen: Limit;

  /** `max`: different refused credentials a client may present in 15 minutes; 0 turns counting off. */
  constructor(
    limits: RateLimits,
    private readonly max: number,
  ) {
    this.distinct = limits.limit('auth-guess', Math.max(1, max), WINDOW_SEC);
    // A one-point counter used as a mark: spent means this client's credential was already counted in the window.
    this.seen = limits.limit('auth-guess-seen', 1, WINDOW_SEC);
  }

  /** Seconds before this client's credentials are checked again (0: check them); read from memory alone. */
  waitFor(ip: string): number {
    if (!this.blocked?.size) return 0;
    const client = clientPrefix(ip);
    const until = this.blocked.get(client);
    if (until === undefined) return 0;
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) return left;
    this.blocked.delete(client);
    return 0;
  }

  /** Counts a refused credential (`presented`: everything the request offered as one) against its client. */
  async refused(ip: string, presented: string): Promise<void> {
    if (this.max <= 0) return;
    const client = clientPrefix(ip);
    const digest = crypto.createHash('sha256').update(presented).digest('base64url').slice(0, 22);
    if (!(await this.seen.consume(`${client}|${digest}`)).allowed) return;
    const verdict = await this.distinct.consume(client);
    if (!verdict.allowed) (this.blocked ??= new LRUCache({ max: MAX_REMEMBERED })).set(client, Date.now() + verdict.retryAfterSec * 1000);
  }
}
