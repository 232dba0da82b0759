/** A message as the bounce intake received it: its envelope and its bytes. */
export interface InboundMail {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
  /** The connecting client's address (IPv4-mapped IPv6 as plain IPv4): a complaint's source may be trusted by it. */
  remoteAddress?: string;
}
