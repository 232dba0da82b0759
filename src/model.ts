/**
 * Row shapes and scopes that every layer passes around, as types only, so that commands, auth, domains and
 * credentials can all name them without importing one another (no import cycles).
 */
import type { HostSettings } from './domains/names';

export interface UserRow {
  id: number;
  group_id: number;
  username: string;
  email_address: string;
  password_hash: string;
  first_name: string;
  last_name: string;
  company_name: string;
  time_zone: string;
  language: string;
  account_status: string;
  reputation_level: string;
  verified: number | boolean;
  phone_verified: number | boolean;
  available_credits: number;
  limit_sender_domains: number;
  limit_monthly: number;
  limit_daily: number;
  /** Starter | Professional | Enterprise (src/accounts/plans.ts). */
  plan: string;
  created_at: number;
  updated_at: number;
  /** When user.delete began on it (src/accounts/purge.ts); null when it is not being deleted. */
  deleting_at?: number | null;
}

export interface DomainRow extends HostSettings {
  id: number;
  user_id: number;
  status: string;
  link_tracking: number | boolean;
  open_tracking: number | boolean;
  unsubscribe_link: number | boolean;
  hosting_provider: string | null;
  dkim_selector: string;
  dkim_private_key_enc: string;
  dkim_public_key: string;
  dns_records: string;
  last_verified_at: number | null;
  created_at: number;
  updated_at: number;
  /** DNS watch (src/domains/dns-watch.ts): next check (or the claim's lease), its owner, the last check. */
  dns_next_check_at?: number | null;
  dns_check_owner?: string | null;
  dns_checked_at?: number | null;
  /** Earliest failure of a required record while Enabled (starts the grace period), and each failing record (JSON DnsFailure[]). */
  dns_failed_since?: number | null;
  dns_failures?: string | null;
  /** A rotation's new key, signing only once its record verifies (src/domains/dkim-rotation.ts). */
  dkim_next_selector?: string | null;
  dkim_next_private_key_enc?: string | null;
  dkim_next_public_key?: string | null;
  dkim_next_created_at?: number | null;
  /** The key a rotation replaced, kept until dkim_previous_remove_at. */
  dkim_previous_selector?: string | null;
  dkim_previous_private_key_enc?: string | null;
  dkim_previous_public_key?: string | null;
  dkim_previous_remove_at?: number | null;
  /** The reputation guard counts outcomes from here on (set when an admin lifts a suspension). */
  reputation_from?: number | null;
  /** What the lift's hour held at the lift (JSON {type: count}): the guard counts that hour net of it. */
  reputation_base?: string | null;
  /** The sending IP pool its mail leaves from in mx mode (admin-set); null: DEFAULT_IP_POOL, else the OS default. */
  ip_pool?: string | null;
  /** When its deletion began (src/domains/deleting.ts); null when it is not being deleted. */
  deleting_at?: number | null;
}

/** What an account key (`sk_live_…`) may do: the two permissions of the CyberPanel/platform dashboards. */
export type AccountPermission = 'can_send' | 'can_read_analytics';

/** An authenticated account key, as commands see it in `ctx.accountKey`. */
export interface AccountKeyScope {
  id: number;
  canSend: boolean;
  canReadAnalytics: boolean;
  /** Sender domain ids the key may use; null = every domain of the account. */
  domainIds: number[] | null;
  /** IP addresses and CIDR ranges the key may be used from; null = anywhere. */
  allowedIps: string[] | null;
}
