/**
 * npm run bench:compose — what composing one recipient's copy costs in the worker, before and after MessageMime, in
 * the same run: composeMime (nodemailer's MailComposer, streamed, per copy: what SendComposer did) next to
 * MessageMime (src/mail/message-mime.ts: the structure compiled once per message, or once per shape that messages
 * share, per copy only the subject, List-Unsubscribe headers, To, Message-ID, Date and bodies encoded). Rounds alternate old and new; the median round is printed.
 * Both produce the same bytes (checked here on every scenario's first copy, and in tests/send/compose-mime.test.ts).
 * Knobs: BENCH_COPIES (2000 per round), BENCH_ROUNDS (5).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ComposeInput, composeMime } from '../src/mail/compose';
import { MessageBase, MessageMime, MimeShapes, MimeVariant } from '../src/mail/message-mime';

const COPIES = Number(process.env.BENCH_COPIES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const base = (attachments: MessageBase['attachments'] = []): MessageBase => ({
  from: { name: 'Bench', email: 'bench@bench.test' },
  to: [{ name: 'Recipient', email: 'r1@sink.test' }],
  cc: [],
  replyTo: [],
  headers: { 'X-Campaign': 'bench' },
  attachments,
  messageIdHeader: `<${crypto.randomUUID()}@bench.test>`,
  date: new Date(),
});
// bench/send.ts's message, and the tracked, personalised copy of it that a recipient gets.
const HTML = `<h1>Hello</h1><p>${'Benchmark body text. '.repeat(40)}</p>`;
const TEXT = 'Hello. '.repeat(40);
const copy = (i: number, tracked: boolean): MimeVariant =>
  tracked
    ? {
        subject: `Benchmark message for r${i}@sink.test`,
        html:
          HTML.replace('Hello', `Hello r${i}@sink.test`) +
          `<img src="http://track.bench.test/t/o/${crypto.randomBytes(16).toString('hex')}" width="1" height="1" alt="">`,
        text: TEXT + `\n\nUnsubscribe: http://track.bench.test/t/u/${i}`,
        headers: { 'List-Unsubscribe': `<http://track.bench.test/t/u/${i}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      }
    : { subject: `Benchmark message ${i}`, html: HTML, text: TEXT };
const input = (b: MessageBase, v: MimeVariant): ComposeInput => ({ ...b, ...v, headers: { ...b.headers, ...v.headers } });

interface Scenario {
  name: string;
  /** One message per copy (the bench's batches: one recipient each), or one message with COPIES recipients. */
  perMessage: boolean;
  tracked: boolean;
  attachments: MessageBase['attachments'];
}
const scenarios: Scenario[] = [
  { name: 'bench message, one recipient per message', perMessage: true, tracked: false, attachments: [] },
  { name: 'tracked copies of one message (subject, bodies, List-Unsubscribe)', perMessage: false, tracked: true, attachments: [] },
  {
    name: 'tracked copies of one message with a 30 KB PDF',
    perMessage: false,
    tracked: true,
    attachments: [{ filename: 'invoice.pdf', content: crypto.randomBytes(30_000), contentType: 'application/pdf', disposition: 'attachment' }],
  },
];

async function oldRound(s: Scenario, variants: MimeVariant[]): Promise<number> {
  const b = base(s.attachments);
  const t = performance.now();
  for (const v of variants) await composeMime(input(s.perMessage ? base(s.attachments) : b, v));
  return ((performance.now() - t) * 1000) / variants.length;
}

function newRound(s: Scenario, variants: MimeVariant[]): number {
  const t = performance.now();
  // As SendComposer does: one MimeShapes per worker, one MessageMime per message.
  const shapes = new MimeShapes();
  let mime = shapes.forMessage(base(s.attachments));
  for (const v of variants) {
    if (s.perMessage) mime = shapes.forMessage(base(s.attachments));
    mime.compose(v);
  }
  return ((performance.now() - t) * 1000) / variants.length;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  console.log(
    `compose per recipient copy, ${COPIES} copies x ${ROUNDS} rounds, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, node ${process.version}`,
  );
  const results: Record<string, { old_us: number; new_us: number }> = {};
  for (const s of scenarios) {
    const variants = Array.from({ length: COPIES }, (_, i) => copy(i, s.tracked));
    // Same bytes, same boundary: the comparison is between equals.
    const b = base(s.attachments);
    const same = (await composeMime(input(b, variants[0]), { baseBoundary: 'feed000000000000' })).equals(
      new MessageMime(b, 'feed000000000000').compose(variants[0]),
    );
    if (!same) throw new Error(`${s.name}: MessageMime and composeMime differ`);
    await oldRound(s, variants.slice(0, 200)); // warm-up
    newRound(s, variants.slice(0, 200));
    const olds: number[] = [];
    const news: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      olds.push(await oldRound(s, variants));
      news.push(newRound(s, variants));
    }
    const o = median(olds);
    const n = median(news);
    results[s.name] = { old_us: Math.round(o), new_us: Math.round(n) };
    console.log(
      `${s.name}:\n  composeMime ${o.toFixed(1)} µs   MessageMime ${n.toFixed(1)} µs   ${(o / n).toFixed(1)}x   (rounds old ${olds.map((x) => x.toFixed(0)).join('/')}, new ${news.map((x) => x.toFixed(0)).join('/')})`,
    );
  }
  console.log(`load after ${os.loadavg()[0].toFixed(2)}`);
  console.log(`BENCH_COMPOSE ${JSON.stringify(results)}`);
}

void main();
