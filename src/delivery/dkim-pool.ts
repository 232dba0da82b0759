import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import { DkimKey, planSignature, signedMessage, signingError } from './dkim-sign';
import { CachedKey, DkimKeyCache } from './dkim-keys';

export type { DkimKey } from './dkim-sign';

/**
 * DKIM signing with the RSA operation on worker threads. RSA is the costly step (0.25-0.3 ms per message with a
 * 2048-bit key parsed once, 0.7-0.9 ms when the PEM was parsed per signature), which on the delivery worker's main
 * thread capped delivery at one core. The caller's thread
 * canonicalizes and hashes (planSignature) and a thread only signs those bytes with node:crypto, exactly as
 * rsaSign does in-thread, so the output is byte for byte what dkimSign gives; only a few hundred bytes cross
 * to the thread and back.
 *
 * Each thread parses a key once and keeps the KeyObject in its own bounded LRU under the key version's id from
 * the DkimKeyCache (a PEM handed to crypto.sign is re-parsed on every call: most of a signature's CPU). The PEM
 * travels only when this side believes the thread lacks it; should the thread have evicted it, it answers
 * `needKey` and the request goes again with the PEM.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const { LRUCache } = require(workerData.lruCache);
const keys = new LRUCache({ max: workerData.maxKeys });
parentPort.on('message', ({ id, data, keyId, pem }) => {
  let signature;
  try {
    let key = keys.get(keyId);
    if (!key) {
      if (pem === undefined) {
        parentPort.postMessage({ id, needKey: true });
        return;
      }
      key = crypto.createPrivateKey(pem);
      keys.set(keyId, key);
    }
    signature = crypto.sign('sha256', Buffer.from(data.buffer, data.byteOffset, data.byteLength), key).toString('base64');
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
  /** To ask again with the PEM when the thread no longer holds the key. */
  retry: () => void;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Key versions sent to this thread, in the thread's own LRU order (same bound, same sequence of uses). */
  sent: LRUCache<number, true>;
}

export class DkimPool {
  private readonly threads: Thread[] = [];
  private next = 0;
  private seq = 0;
  private closed = false;
  /** How many times a PEM went to a thread to be parsed there (once per thread and key version, unless evicted). */
  keyTransfers = 0;

  /**
   * `keys` is the worker's DkimKeyCache (also used by the in-thread fallback); `size` threads, by default one
   * fewer than the cores (at least one, at most four). Each thread holds at most as many parsed keys as `keys`.
   */
  constructor(
    private readonly keys: DkimKeyCache,
    private readonly size = Math.max(1, Math.min(4, os.availableParallelism() - 1)),
  ) {}

  private spawn(index: number): Thread {
    const worker = new Worker(THREAD, { eval: true, workerData: { lruCache: require.resolve('lru-cache'), maxKeys: this.keys.max } });
    worker.unref(); // signing threads never keep the process alive on their own
    const t: Thread = { worker, pending: new Map(), sent: new LRUCache({ max: this.keys.max }) };
    worker.on('message', (m: { id: number; signature?: string; error?: string; needKey?: boolean }) => {
      const p = t.pending.get(m.id);
      if (!p) return;
      if (m.needKey) return p.retry();
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
      signature = await this.signOnThread(plan.data, this.keys.get(key));
    } catch (err) {
      // A key the signer rejects is the domain's problem; a thread that died is ours (the caller retries in-thread).
      throw (err as { keyRejected?: boolean }).keyRejected ? signingError(key) : err;
    }
    return signedMessage(plan, signature, raw);
  }

  private signOnThread(data: Buffer, key: CachedKey): Promise<string> {
    if (this.closed) return Promise.reject(new Error('DKIM pool is closed'));
    const index = this.next++ % this.size;
    const t = this.threads[index] ?? (this.threads[index] = this.spawn(index));
    const id = ++this.seq;
    // get() also refreshes the entry's recency, as the thread's own get() will when it takes this message.
    const known = t.sent.get(key.id) !== undefined;
    if (!known) {
      t.sent.set(key.id, true);
      this.keyTransfers++;
    }
    return new Promise<string>((resolve, reject) => {
      const retry = () => {
        this.keyTransfers++;
        t.sent.set(key.id, true);
        t.worker.postMessage({ id, data, keyId: key.id, pem: key.pem });
      };
      t.pending.set(id, { resolve, reject, retry });
      t.worker.postMessage({ id, data, keyId: key.id, pem: known ? undefined : key.pem });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.filter(Boolean).map((t) => t.worker.terminate()));
  }
}
