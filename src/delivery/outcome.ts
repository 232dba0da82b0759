import type { SessionTls } from './smtp-pool';

/**
 * What one send attempt to the next hop (or to the capture store) came to. `tls` says how the accepted message
 * crossed the wire (null: in clear); it is absent where no SMTP hop was made (capture mode). `tlsPolicy` is the rule
 * an MX hop was held to (MX_TLS or MX_TLS_DOMAINS' may, encrypt or verify, or the domain's MTA-STS enforce policy).
 * `source` is the local address an MX hop was made from, when a sending IP pool chose it (ip-pools.ts).
 */
export type SendOutcome =
  | { ok: true; response: string; tls?: SessionTls | null; tlsPolicy?: 'may' | 'encrypt' | 'verify' | 'mta-sts'; source?: string }
  | { ok: false; code?: number; response: string; source?: string };
