import os from 'node:os';
import { Worker } from 'node:worker_threads';

export interface DkimKey {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/**
 * nodemailer's signer passes a message through unsigned when the private key cannot sign (its sign() returns
 * false and the header is left out). Mail must never leave unsigned by accident: that is a signing failure.
 */
export function requireSignature(out: Buffer, key: DkimKey): Buffer {
  if (out.subarray(0, 15).toString('latin1') === 'DKIM-Signature:') return out;
  throw new Error(`the DKIM key of ${key.domainName} (selector ${key.keySelector}) could not sign the message; check the domain's private key`);
}

/**
 * DKIM signing on worker threads. nodemailer's signer computes the RSA signature synchronously (about 0.9 ms per
 * message with a 2048-bit key), which on the delivery worker's main thread capped delivery at one core of RSA.
 * The threads run the same signer (nodemailer/lib/dkim, resolved from here and loaded by path), so the output is
 * byte for byte what signing in-thread gives.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const DKIM = require(workerData.dkimModule);
parentPort.on('message', ({ id, raw, key }) => {
  const chunks = [];
  let out;
  try {
    out = new DKIM(key).sign(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
    return;
  }
  out.on('data', (c) => chunks.push(c));
  out.on('error', (err) => parentPort.postMessage({ id, error: String((err && err.message) || err) }));
  out.on('end', () => parentPort.postMessage({ id, signed: Buffer.concat(chunks) }));
});
`;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class DkimPool {
  private readonly threads: Thread[] = [];
  private next = 0;
  private seq = 0;
  private closed = false;
  private readonly dkimModule = require.resolve('nodemailer/lib/dkim');

  /** `size` threads; by default one fewer than the cores (at least one, at most four). */
  constructor(private readonly size = Math.max(1, Math.min(4, os.availableParallelism() - 1))) {}

  private spawn(index: number): Thread {
    const worker = new Worker(THREAD, { eval: true, workerData: { dkimModule: this.dkimModule } });
    worker.unref(); // signing threads never keep the process alive on their own
    const t: Thread = { worker, pending: new Map() };
    worker.on('message', (m: { id: number; signed?: Uint8Array; error?: string }) => {
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      if (m.error !== undefined || !m.signed) p.reject(new Error(m.error ?? 'DKIM signing failed'));
      else p.resolve(Buffer.from(m.signed.buffer, m.signed.byteOffset, m.signed.byteLength));
    });
    // A thread that dies fails what it held; the next call starts a new one in its place.
    const fail = (err: Error) => {
      for (const p of t.pending.values()) p.reject(err);
      t.pending.clear();
      if (this.threads[index] === t) this.threads[index] = undefined as unknown as Thread;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`DKIM thread exited (${code})`)));
    return t;
  }

  /** The signed message; rejects when the key cannot sign (never gives the message back unsigned). */
  sign(raw: Buffer, key: DkimKey): Promise<Buffer> {
    return this.signRaw(raw, key).then((out) => requireSignature(out, key));
  }

  private signRaw(raw: Buffer, key: DkimKey): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('DKIM pool is closed'));
    const index = this.next++ % this.size;
    const t = this.threads[index] ?? (this.threads[index] = this.spawn(index));
    const id = ++this.seq;
    return new Promise<Buffer>((resolve, reject) => {
      t.pending.set(id, { resolve, reject });
      t.worker.postMessage({ id, raw, key: { domainName: key.domainName, keySelector: key.keySelector, privateKey: key.privateKey } });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.filter(Boolean).map((t) => t.worker.terminate()));
  }
}
