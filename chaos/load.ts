/**
 * The chaos suite's clients: every message has its own recipient (`m<n>@sink.test`) and goes through one door:
 * HTTP batches of 20 and single sends (each with an Idempotency-Key, retried with it) and SMTP (retried as a new
 * transaction, as an MTA would). A unit is retried until it is acknowledged (200 with MessageIDs, SMTP 250);
 * every attempt is recorded with its outcome and how long the answer took.
 */
import nodemailer from 'nodemailer';
import type { Sender } from './cluster';

export type Door = 'http-batch' | 'http-single' | 'smtp';

export interface Attempt {
  door: Door;
  start: number;
  ms: number;
  /** HTTP status, SMTP reply code, or 0 when the connection failed or timed out. */
  status: number;
  /** The transport's error code when there was no answer (ECONNREFUSED, timeout, …). */
  error?: string;
}

interface Unit {
  door: Door;
  recipients: string[];
  key: string;
}

export interface LoadOptions {
  messages: number;
  /** Messages released per second (the doors share it). */
  rate: number;
  batchSize: number;
  /** Concurrent clients per door. */
  streams: Record<Door, number>;
  /** A unit not acknowledged after this long is given up (and reported). */
  giveUpMs: number;
}

const CLIENT_TIMEOUT_MS = 30_000;

export class Load {
  readonly attempts: Attempt[] = [];
  /** Recipient → time its message was acknowledged. */
  readonly acked = new Map<string, number>();
  readonly gaveUp: string[] = [];
  /** Recipient → the door its message went through. */
  readonly doorOf = new Map<string, Door>();
  /** Messages handed to the doors so far. */
  released = 0;
  private readonly queues: Record<Door, Unit[]> = { 'http-batch': [], 'http-single': [], smtp: [] };
  private readonly units: Unit[] = [];
  private stopped = false;

  constructor(
    private readonly o: LoadOptions,
    private readonly apiPort: number,
    private readonly smtpPort: number,
    private readonly sender: Sender,
  ) {
    // Half the messages in batches, a quarter each as single sends and over SMTP, interleaved.
    let n = 0;
    const run = Math.random().toString(36).slice(2, 8);
    while (n < o.messages) {
      const take = (door: Door, count: number) => {
        const k = Math.min(count, o.messages - n);
        if (k <= 0) return;
        const recipients = Array.from({ length: k }, (_, i) => `m${n + i}@sink.test`);
        for (const r of recipients) this.doorOf.set(r, door);
        this.units.push({ door, recipients, key: `chaos-${run}-${n}` });
        n += k;
      };
      take('http-batch', o.batchSize);
      for (let i = 0; i < o.batchSize / 2 && n < o.messages; i++) take(i % 2 ? 'smtp' : 'http-single', 1);
    }
  }

  /** Releases the units at the configured rate and resolves once each is acknowledged or given up. */
  async run(): Promise<void> {
    const streams: Promise<void>[] = [];
    for (const door of Object.keys(this.queues) as Door[]) for (let i = 0; i < this.o.streams[door]; i++) streams.push(this.stream(door));
    const started = Date.now();
    for (const u of this.units) {
      const due = started + (this.released / this.o.rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      this.queues[u.door].push(u);
      this.released += u.recipients.length;
    }
    this.stopped = true;
    await Promise.all(streams);
  }

  private async stream(door: Door): Promise<void> {
    const smtp = door === 'smtp' ? this.transport() : null;
    for (;;) {
      const u = this.queues[door].shift();
      if (!u) {
        if (this.stopped) break;
        await sleep(20);
        continue;
      }
      const first = Date.now();
      for (;;) {
        const wait = door === 'smtp' ? await this.trySmtp(smtp!, u) : await this.tryHttp(u);
        if (wait === null) break;
        if (Date.now() - first > this.o.giveUpMs) {
          this.gaveUp.push(...u.recipients);
          break;
        }
        await sleep(wait);
      }
    }
    smtp?.close();
  }

  private record(a: Attempt): void {
    this.attempts.push(a);
  }

  /** One try; null when acknowledged, else how long to wait before the next. */
  private async tryHttp(u: Unit): Promise<number | null> {
    const batch = u.door === 'http-batch';
    const messages = u.recipients.map((to) => ({
      Subject: `chaos ${u.key}`,
      ContentType: 'plain',
      PlainContent: `chaos message for ${to}`,
      From: { name: 'Chaos', email: `chaos@${this.sender.domain}` },
      To: [{ name: '', email: to }],
    }));
    const start = Date.now();
    try {
      const res = await fetch(`http://127.0.0.1:${this.apiPort}/api/v1/email${batch ? '/batch' : ''}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.sender.apiKey}`, 'idempotency-key': u.key },
        body: JSON.stringify(batch ? { Messages: messages } : messages[0]),
        signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      });
      const body = (await res.json().catch(() => ({}))) as { MessageID?: string; Accepted?: number };
      this.record({ door: u.door, start, ms: Date.now() - start, status: res.status });
      if (res.status === 200 && (batch ? body.Accepted === u.recipients.length : typeof body.MessageID === 'string')) {
        for (const r of u.recipients) this.acked.set(r, Date.now());
        return null;
      }
      const retryAfter = Number(res.headers.get('retry-after'));
      return (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1) * 1000;
    } catch (err) {
      this.record({ door: u.door, start, ms: Date.now() - start, status: 0, error: errorCode(err) });
      return 1000;
    }
  }

  private transport() {
    return nodemailer.createTransport({
      host: '127.0.0.1',
      port: this.smtpPort,
      secure: false,
      ignoreTLS: true,
      auth: { user: this.sender.smtpUser, pass: this.sender.smtpPass },
      pool: true,
      maxConnections: 1,
      maxMessages: Infinity,
      connectionTimeout: CLIENT_TIMEOUT_MS,
      greetingTimeout: CLIENT_TIMEOUT_MS,
      socketTimeout: CLIENT_TIMEOUT_MS,
    } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  private async trySmtp(t: ReturnType<Load['transport']>, u: Unit): Promise<number | null> {
    const start = Date.now();
    try {
      const info = await t.sendMail({
        // A retry is the same message, as an MTA resends it: same Message-ID.
        messageId: `<${u.key}@chaos.test>`,
        from: `Chaos <chaos@${this.sender.domain}>`,
        to: u.recipients[0],
        subject: `chaos ${u.key}`,
        text: `chaos message for ${u.recipients[0]}`,
      });
      this.record({ door: 'smtp', start, ms: Date.now() - start, status: Number(String(info.response).slice(0, 3)) });
      for (const r of u.recipients) this.acked.set(r, Date.now());
      return null;
    } catch (err) {
      const code = (err as { responseCode?: number }).responseCode;
      this.record({ door: 'smtp', start, ms: Date.now() - start, status: code ?? 0, error: code ? undefined : errorCode(err) });
      return 1000;
    }
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? e.name ?? 'error';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
