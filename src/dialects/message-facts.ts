/**
 * What the CyberPanel and CloudMails lookups show of a message, read from emailgateway.getmessage's reply
 * (its recipients and their events): times in epoch ms, counts over all recipients.
 */
export interface MessageFacts {
  to: string[];
  queuedAt: number | null;
  /** The first delivery attempt's outcome (delivered, deferred, bounced or failed): the message left the queue. */
  sentAt: number | null;
  /** The last `delivered` event: when the (last) recipient's server took the message. */
  deliveredAt: number | null;
  firstOpenAt: number | null;
  /** Every open and click recorded (each pixel load or link follow), not only unique ones. */
  opens: number;
  clicks: number;
  /** The SMTP reply of the first bounced (or failed) recipient. */
  bounceReason: string | null;
}

interface Recipient {
  Email: string;
  Type: string;
  Status: string;
  LastReply: string | null;
  Events?: { Event: string; LoggedAt: number }[];
}

const LEFT_QUEUE = new Set(['delivered', 'deferred', 'bounced', 'failed']);

export function messageFacts(m: Record<string, unknown>): MessageFacts {
  const recipients = (m.Recipients ?? []) as Recipient[];
  const events = recipients.flatMap((r) => (r.Events ?? []).map((e) => ({ type: e.Event, at: Number(e.LoggedAt) * 1000 })));
  const times = (pred: (t: string) => boolean) => events.filter((e) => pred(e.type)).map((e) => e.at);
  const min = (xs: number[]) => (xs.length ? Math.min(...xs) : null);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  const bounced = recipients.find((r) => r.Status === 'bounced') ?? recipients.find((r) => r.Status === 'failed');
  return {
    to: recipients.filter((r) => r.Type === 'to').map((r) => r.Email),
    queuedAt: typeof m.CreatedAt === 'string' ? Date.parse(m.CreatedAt) : null,
    sentAt: min(times((t) => LEFT_QUEUE.has(t))),
    deliveredAt: max(times((t) => t === 'delivered')),
    firstOpenAt: min(times((t) => t === 'opened')),
    opens: times((t) => t === 'opened').length,
    clicks: times((t) => t === 'clicked').length,
    bounceReason: bounced?.LastReply ?? null,
  };
}
