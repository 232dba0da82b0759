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

/**
 * One pass over the events, without spreading them into Math.min/max: a message's events have no bound (every
 * pixel load adds one), and spreading some 150,000 arguments throws a RangeError.
 */
export function messageFacts(m: Record<string, unknown>): MessageFacts {
  const recipients = (m.Recipients ?? []) as Recipient[];
  let sentAt: number | null = null;
  let deliveredAt: number | null = null;
  let firstOpenAt: number | null = null;
  let opens = 0;
  let clicks = 0;
  for (const r of recipients) {
    for (const e of r.Events ?? []) {
      const at = Number(e.LoggedAt) * 1000;
      if (LEFT_QUEUE.has(e.Event) && (sentAt === null || at < sentAt)) sentAt = at;
      if (e.Event === 'delivered' && (deliveredAt === null || at > deliveredAt)) deliveredAt = at;
      if (e.Event === 'opened') {
        opens++;
        if (firstOpenAt === null || at < firstOpenAt) firstOpenAt = at;
      }
      if (e.Event === 'clicked') clicks++;
    }
  }
  // A lookup that lists only a message's first events (src/mail/lookup.ts) gives each type's totals instead.
  const totals = m.EventTotals as Record<string, { Count: number; FirstAt: number; LastAt: number }> | undefined;
  if (totals) {
    const at = (t: string, which: 'FirstAt' | 'LastAt') => (totals[t] ? totals[t][which] * 1000 : null);
    const left = [...LEFT_QUEUE].map((t) => at(t, 'FirstAt')).filter((v): v is number => v !== null);
    sentAt = left.length ? left.reduce((a, b) => Math.min(a, b)) : null;
    deliveredAt = at('delivered', 'LastAt');
    firstOpenAt = at('opened', 'FirstAt');
    opens = totals.opened?.Count ?? 0;
    clicks = totals.clicked?.Count ?? 0;
  }
  const bounced = recipients.find((r) => r.Status === 'bounced') ?? recipients.find((r) => r.Status === 'failed');
  return {
    to: recipients.filter((r) => r.Type === 'to').map((r) => r.Email),
    queuedAt: typeof m.CreatedAt === 'string' ? Date.parse(m.CreatedAt) : null,
    sentAt,
    deliveredAt,
    firstOpenAt,
    opens,
    clicks,
    bounceReason: bounced?.LastReply ?? null,
  };
}
