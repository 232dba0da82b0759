/** A message as the bounce intake received it: its envelope and its bytes. */
export interface InboundMail {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}
