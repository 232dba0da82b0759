import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { DkimKey, planSignature, signedMessage, signingError } from './dkim-sign';

export type { DkimKey } from './dkim-sign';

/**
 * DKIM signing with the RSA operation on worker threads. RSA is the costly step (about 0.9 ms per message with
 * a 2048-bit key), which on the delivery worker's main thread capped delivery at one core. The caller's thread
 * canonicalizes and hashes (planSignature) and a thread only signs those bytes with node:crypto, exactly as
 * rsaSign does in-thread, so the output is byte for byte what dkimSign gives; only a few hundred bytes cross
 * to the thread and back.
 */
const THREAD = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
parentPort.on('message', ({ id, data, privateKey }) => {
  let signature;
  try {
    signature = crypto.sign('sha256', Buffer.from(data.buffer, data.byteOffset, data.byteLength), privateKey).toString('base64');
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
    return;
  }
  parentPort.postMessage({ id, signature });
});
`;

interface Pending {
  resolve: (signature: string) => void;
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

  /** `size` threads; by default one fewer than the cores (at least one, at most four). */
  constructor(private readonly size = Math.max(1, Math.min(4, os.availableParallelism() - 1))) {}

  private spawn(index: number): Thread {
    const worker = new Worker(THREAD, { eval: true });
    worker.unref(); // signing threads never keep the process alive on their own
    const t: Thread = { worker, pending: new Map() };
    worker.on('message', (m: { id: number; signature?: string; error?: string }) => {
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      // The thread answered, so the key is what failed (not the thread).
      if (m.error !== undefined || !m.signature) p.reject(Object.assign(new Error(m.error ?? 'DKIM signing failed'), { keyRejected: true }));
      else p.resolve(m.signature);
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
  async sign(raw: Buffer, key: DkimKey): Promise<Buffer> {
    const plan = planSignature(raw, key);
    let signature: string;
    try {
      signature = await this.signOnThread(plan.data, key.privateKey);
    } catch (err) {
      // A key the signer rejects is the domain's problem; a thread that died is ours (the caller retries in-thread).
      throw (err as { keyRejected?: boolean }).keyRejected ? signingError(key) : err;
    }
    return signedMessage(plan, signature, raw);
  }

  private signOnThread(data: Buffer, privateKey: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('DKIM pool is closed'));
    const index = this.next++ % this.size;
    const t = this.threads[index] ?? (this.threads[index] = this.spawn(index));
    const id = ++this.seq;
    return new Promise<string>((resolve, reject) => {
      t.pending.set(id, { resolve, reject });
      t.worker.postMessage({ id, data, privateKey });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.filter(Boolean).map((t) => t.worker.terminate()));
  }
}
