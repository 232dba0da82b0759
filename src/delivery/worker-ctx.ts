import type { Services } from '../command';
import type { Throttle } from '../throttle/throttle';
import type { Transports } from './transports';
import { STORED_SENDING, WAITING } from './leased';

/**
 * Statuses a delivery can still be sent from: the lease and the sweeper take only these (without a live stamp). The
 * waiting ones, and 'sending' as an earlier release stored a lease, whose expired stamp is taken over as any other.
 */
export const PENDING = [...WAITING, STORED_SENDING];

/**
 * One delivery worker's own state, handed to its parts (lease-settle.ts, send-attempt.ts, sweeper.ts). Each
 * createDeliveryWorker builds its own: nothing here is module-level, so two workers in one process never share it.
 */
export interface WorkerCtx {
  services: Services;
  /** This worker's name on the rows it leases (host, pid, a random tag): a lease is released only by its owner. */
  owner: string;
  throttle: Throttle;
  transports: Transports;
}

/** A leased delivery as the worker reads it: its row, the MIME to send and the message's tags. */
export interface Leased {
  id: number;
  message_id: string;
  user_id: number;
  domain_id: number;
  recipient: string;
  attempts: number;
  created_at: number;
  /** Time spent held by an operator (queue.hold): not counted towards DELIVERY_MAX_AGE_SECONDS. */
  held_ms: number;
  mime: Buffer | null;
  message_mime: Buffer | null;
  /** An API message's stored request (composed here, at delivery); null for raw SMTP-front MIME. */
  content: Buffer | string | null;
  track_id: string | null;
  found_message: string | null;
  tags: string | null;
  /** The message's SendAt (null: due at acceptance); its age for DELIVERY_MAX_AGE_SECONDS counts from then. */
  send_at: number | null;
  lease_until: number;
  /**
   * Whether the row holds a reply already (an earlier attempt's, a hold's reason). A delivered outcome writes its reply
   * over it; on a row without one it leaves `last_reply` NULL, so the row keeps its size and MariaDB updates it in
   * place (the reply is in the `delivered` event, where lookup.ts reads it).
   */
  had_reply: number | boolean;
  /** The sender domain's status when the row was leased (null: the domain is gone). */
  domain_status: string | null;
  /** The sending account's status when the row was leased (null: the account is gone). */
  account_status: string | null;
  /** The message's campaign's status when the row was leased (null: not a campaign message, or the campaign is gone). */
  campaign_status: string | null;
  /** The message's list (a campaign's, a list send's or a send naming a ListID); null otherwise. */
  list_id: number | null;
  /** Set when the message went to the list's members (TargetListID, a campaign), not when a send named a ListID. */
  list_send: number | boolean | null;
}

/** One attempt's outcome on its way to the database. */
export interface Settlement {
  d: Leased;
  update: Record<string, unknown>;
  type: string;
  data: Record<string, unknown>;
  suppress?: string;
  attempts: number;
  done: number;
}
