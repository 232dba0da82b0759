/**
 * npm run bench:dkim — DKIM signing cost per message, the signer issue 13 replaced next to the current one, in
 * the same run: nodemailer's signer in-thread (before), our over-signing signer in-thread (dkimSign), and
 * DkimPool (RSA on worker threads), with the main-thread share of the pool path (planSignature) alone, and
 * the main thread's busy time per message of DkimPool next to the pool it replaced (nodemailer's whole signer
 * on the threads, the raw message copied there and back; rebuilt here for the comparison). The in-thread signer
 * runs twice: from the PEM on every call (before issue 15) and with the parsed key from a DkimKeyCache; the
 * pool always uses the cache (each thread parses a key once).
 * Messages are composed by nodemailer's MailComposer as the API composes them: HTML (quoted-printable) and
 * text, From/To/Cc/Subject/Date/Message-ID, List-Unsubscribe and List-Unsubscribe-Post.
 * Knobs: BENCH_MESSAGES (2000), BENCH_HTML_KB (8), BENCH_THREADS (DkimPool's default).
 */
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import DKIM from 'nodemailer/lib/dkim';
import MailComposer from 'nodemailer/lib/mail-composer';
import { DkimPool } from '../src/delivery/dkim-pool';
import { DkimKeyCache } from '../src/delivery/dkim-keys';
import { dkimSign, planSignature } from '../src/delivery/dkim-sign';

const N = Number(process.env.BENCH_MESSAGES ?? 2000);
const HTML_KB = Number(process.env.BENCH_HTML_KB ?? 8);
const THREADS = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { domainName: 'example.com', keySelector: 'key1', privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() };

async function compose(i: number): Promise<Buffer> {
  const para = `<p>Dear customer ${i}, your order   has shipped. Track it at <a href="https://track.example.com/t/c/${i}">this link</a>.</p>\n`;
  const html = para.repeat(Math.max(1, Math.round((HTML_KB * 1024) / para.length)));
  return new MailComposer({
    from: 'Shop <shop@example.com>',
    to: `Customer <c${i}@dest.test>`,
    cc: 'carl@dest.test',
    subject: `Your order ${i}`,
    html,
    text: html.replace(/<[^>]+>/g, ''),
    messageId: `<m${i}@example.com>`,
    date: new Date(),
    headers: { 'List-Unsubscribe': `<https://track.example.com/t/u/${i}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  })
    .compile()
    .build();
}

function nodemailerSign(raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const out = new DKIM(key).sign(raw);
    out.on('data', (c: Buffer) => chunks.push(c));
    out.on('error', reject);
    out.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** The pool issue 13 replaced: nodemailer's signer on threads, the whole message sent there and back. */
function oldPool(size: number) {
  const code = `
const { parentPort, workerData } = require('node:worker_threads');
const DKIM = require(workerData.dkimModule);
parentPort.on('message', ({ id, raw, key }) => {
  const chunks = [];
  const out = new DKIM(key).sign(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  out.on('data', (c) => chunks.push(c));
  out.on('end', () => parentPort.postMessage({ id, signed: Buffer.concat(chunks) }));
});`;
  const workers = Array.from({ length: size }, () => new Worker(code, { eval: true, workerData: { dkimModule: require.resolve('nodemailer/lib/dkim') } }));
  const pending = new Map<number, (b: Buffer) => void>();
  for (const w of workers) w.on('message', (m: { id: number; signed: Uint8Array }) => pending.get(m.id)!(Buffer.from(m.signed)));
  let seq = 0;
  return {
    sign: (raw: Buffer) =>
      new Promise<Buffer>((resolve) => {
        const id = ++seq;
        pending.set(id, resolve);
        workers[id % size].postMessage({ id, raw, key });
      }),
    close: () => Promise.all(workers.map((w) => w.terminate())),
  };
}

async function timed(label: string, run: () => Promise<void>): Promise<number> {
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = process.hrtime.bigint();
  await run();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const main = performance.eventLoopUtilization(elu0).active;
  const rate = (N / ms) * 1000;
  console.log(
    `${label.padEnd(62)} ${rate.toFixed(0).padStart(6)} msg/s  ${((cpu.user + cpu.system) / 1000 / N).toFixed(3)} ms CPU/msg (all threads)  ${(main / N).toFixed(3)} ms main thread/msg`,
  );
  return rate;
}

async function main() {
  const messages = await Promise.all(Array.from({ length: N }, (_, i) => compose(i)));
  const avg = messages.reduce((a, m) => a + m.length, 0) / N;
  console.log(`${N} messages of ${(avg / 1024).toFixed(1)} KiB on average; 2048-bit RSA`);
  for (const m of messages.slice(0, 50)) await nodemailerSign(m); // warm-up
  for (const m of messages.slice(0, 50)) await dkimSign(m, key);

  const before = await timed('nodemailer signer, in-thread (before)', async () => {
    for (const m of messages) await nodemailerSign(m);
  });
  const inThreadPem = await timed('over-signing signer, in-thread, PEM each call (before #15)', async () => {
    for (const m of messages) await dkimSign(m, key);
  });
  const keys = new DkimKeyCache();
  await dkimSign(messages[0], key, keys);
  const inThread = await timed('over-signing signer, in-thread, cached KeyObject', async () => {
    for (const m of messages) await dkimSign(m, key, keys);
  });
  await timed('  of which canonicalize + hash (planSignature)', async () => {
    for (const m of messages) planSignature(m, key);
  });
  const size = THREADS ?? Math.max(1, Math.min(4, (await import('node:os')).availableParallelism() - 1));
  const old = oldPool(size);
  await Promise.all(messages.slice(0, 50).map((m) => old.sign(m)));
  const oldThreaded = await timed('nodemailer signer on threads, 50 at a time (before)', async () => {
    for (let i = 0; i < N; i += 50) await Promise.all(messages.slice(i, i + 50).map((m) => old.sign(m)));
  });
  await old.close();
  const pool = new DkimPool(keys, size);
  await Promise.all(messages.slice(0, 50).map((m) => pool.sign(m, key)));
  const threaded = await timed('over-signing signer, DkimPool (RSA on threads), 50 at a time', async () => {
    for (let i = 0; i < N; i += 50) await Promise.all(messages.slice(i, i + 50).map((m) => pool.sign(m, key)));
  });
  await pool.close();
  console.log(
    `ratios: in-thread ${(inThread / before).toFixed(2)}x nodemailer, cached key ${(inThread / inThreadPem).toFixed(2)}x PEM; on threads ${(threaded / oldThreaded).toFixed(2)}x before (${size} threads)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
