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
function signOne({ id, data, keyId, pem }) {
  try {
    let key = keys.get(keyId);
    if (!key) {
      if (pem === undefined) return { id, needKey: true };
      key = crypto.createPrivateKey(pem);
      keys.set(keyId, key);
    }
    return { id, signature: crypto.sign('sha256', Buffer.from(data.buffer, data.byteOffset, data.byteLength), key).toString('base64') };
  } catch (err) {
    return { id, error: String((err && err.message) || err) };
  }
}
parentPort.on('message', (batch) => parentPort.postMessage(batch.map(signOne)));
`;

interface Pending {
  resolve: (signature: string) => void;
  reject: (e: Error) => void;
  /** To ask again with the PEM when the thread no longer holds the key. */
  retry: () => void;
}

interface Request {
  id: number;
  data: Buffer;
  keyId: number;
  pem?: string;
}

interface Reply {
  id: number;
  signature?: string;
  error?: string;
  needKey?: boolean;
}

interface Thread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Requests not yet posted: they go as one message when this turn of the event loop is done (see `post`). */
  queue: Request[];
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
  /** How many messages went to the threads (each carries every request of one event-loop turn for that thread). */
  posts = 0;

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
    const t: Thread = { worker, pending: new Map(), queue: [], sent: new LRUCache({ max: this.keys.max }) };
    worker.on('message', (replies: Reply[]) => {
      for (const m of replies) {
        const p = t.pending.get(m.id);
        if (!p) continue;
        if (m.needKey) {
          p.retry();
          continue;
        }
        t.pending.delete(m.id);
        // The thread answered, so the key is what failed (not the thread).
        if (m.error !== undefined || !m.signature) p.reject(Object.assign(new Error(m.error ?? 'DKIM signing failed'), { keyRejected: true }));
        else p.resolve(m.signature);
      }
    });
    // A thread that dies fails what it held; the next call starts a new one in its place.
    const fail = (err: Error) => {
      for (const p of t.pending.values()) p.reject(err);
      t.pending.clear();
      t.queue.length = 0;
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
        this.post(t, { id, data, keyId: key.id, pem: key.pem });
      };
      t.pending.set(id, { resolve, reject, retry });
      this.post(t, { id, data, keyId: key.id, pem: known ? undefined : key.pem });
    });
  }

  /**
   * Queues a request and posts the thread's queue once the current turn of the event loop is done: a lease
   * group's deliveries reach signing in the same turn, so they cross as one message and come back as one, one
   * wake-up of each thread per group instead of one per message (the wake-ups were most of the hand-off's cost).
   */
  private post(t: Thread, req: Request): void {
    if (t.queue.push(req) > 1) return;
    setImmediate(() => {
      const batch = t.queue.splice(0);
      if (!batch.length) return;
      this.posts++;
      t.worker.postMessage(batch);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.filter(Boolean).map((t) => t.worker.terminate()));
  }
}
