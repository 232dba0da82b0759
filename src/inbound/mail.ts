/** A message as the bounce intake received it: its envelope and its bytes. */
export interface InboundMail {
  mailFrom: string;
  rcptTo: string[];
  /** Its bytes, or only the first MAX_HELD_BYTES of them (the intake reads no further). */
  raw: Buffer;
  /** Its whole length when `raw` holds only its start; raw.length otherwise. */
  size?: number;
  /** The connecting client's address (IPv4-mapped IPv6 as plain IPv4): a complaint's source may be trusted by it. */
  remoteAddress?: string;
}
