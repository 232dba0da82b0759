import { Coalescer } from '../src/coalesce';

/** A promise the test settles by hand, to hold a flush open for as long as it needs to. */
interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One turn of the event loop: the coalescer starts its flushes from setImmediate. */
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Lets the event loop run until cond holds (no timers involved; fails after `turns` turns). */
async function until(cond: () => boolean, turns = 50): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await tick();
  }
  throw new Error('condition not reached');
}

/** How a promise ended, so a test can look without awaiting one that is meant to stay pending. */
function track<T>(p: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (v) => {
      t.state = 'resolved';
      t.value = v;
    },
    (e) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

/** A flush whose every call is recorded and held open until the test settles it. */
function heldFlush<T, R>() {
  const calls: { items: T[]; d: Deferred<R[]> }[] = [];
  let running = 0;
  let maxRunning = 0;
  const flush = (items: T[]): Promise<R[]> => {
    const d = deferred<R[]>();
    calls.push({ items: [...items], d });
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    return d.promise.finally(() => {
      running -= 1;
    });
  };
  return {
    flush,
    calls,
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
  };
}

describe('Coalescer', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('flushes items submitted together as one group and routes each result to its own caller', async () => {
    const calls: number[][] = [];
    const c = new Coalescer<number, string>(
      async (items) => {
        calls.push([...items]);
        return items.map((i) => `r${i}`);
      },
      { maxItems: 10 },
    );
    const ps = [3, 1, 4, 1, 5].map((i) => c.submit(i));
    await expect(Promise.all(ps)).resolves.toEqual(['r3', 'r1', 'r4', 'r1', 'r5']);
    expect(calls).toEqual([[3, 1, 4, 1, 5]]);
  });

  it("gives each caller the result at its own position, not its neighbour's", async () => {
    // results that do not depend on the item value: only the position routes them
    let n = 0;
    const c = new Coalescer<string, number>(async (items) => items.map(() => ++n), { maxItems: 10 });
    const a = c.submit('a');
    const b = c.submit('b');
    const d = c.submit('d');
    expect(await d).toBe(3);
    expect(await a).toBe(1);
    expect(await b).toBe(2);
  });

  it('a lone item is flushed on its own without waiting for company', async () => {
    const calls: number[][] = [];
    const c = new Coalescer<number, number>(
      async (items) => {
        calls.push([...items]);
        return items.map((i) => i * 2);
      },
      { maxItems: 10 },
    );
    expect(await c.submit(1)).toBe(2);
    expect(await c.submit(2)).toBe(4);
    expect(calls).toEqual([[1], [2]]);
  });

  it('splits a burst into groups of at most maxItems', async () => {
    const calls: number[][] = [];
    const c = new Coalescer<number, number>(
      async (items) => {
        calls.push([...items]);
        return items.map((i) => i + 100);
      },
      { maxItems: 2 },
    );
    const res = await Promise.all([1, 2, 3, 4, 5].map((i) => c.submit(i)));
    expect(res).toEqual([101, 102, 103, 104, 105]);
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
    expect(calls.every((g) => g.length <= 2)).toBe(true);
  });

  it('with maxInFlight 1, items submitted while a flush runs wait and go together in the next one', async () => {
    const h = heldFlush<string, string>();
    const c = new Coalescer<string, string>(h.flush, { maxItems: 10, maxInFlight: 1 });

    const a = track(c.submit('a'));
    await until(() => h.calls.length === 1);
    expect(h.calls[0].items).toEqual(['a']);

    const b = track(c.submit('b'));
    const d = track(c.submit('d'));
    // the first flush is still running: nothing else may start, however many turns pass
    for (let i = 0; i < 5; i++) await tick();
    expect(h.calls).toHaveLength(1);
    expect(c.pending).toBe(2);
    expect([a.state, b.state, d.state]).toEqual(['pending', 'pending', 'pending']);

    h.calls[0].d.resolve(['A']);
    await until(() => h.calls.length === 2);
    expect(a).toMatchObject({ state: 'resolved', value: 'A' });
    expect(h.calls[1].items).toEqual(['b', 'd']);
    expect(c.pending).toBe(0);
    expect([b.state, d.state]).toEqual(['pending', 'pending']);

    h.calls[1].d.resolve(['B', 'D']);
    await until(() => b.state !== 'pending' && d.state !== 'pending');
    expect(b).toMatchObject({ state: 'resolved', value: 'B' });
    expect(d).toMatchObject({ state: 'resolved', value: 'D' });
    expect(h.maxRunning).toBe(1);
  });

  it('with maxInFlight 2, two flushes run at the same time and a third waits for one of them', async () => {
    const h = heldFlush<string, string>();
    const c = new Coalescer<string, string>(h.flush, { maxItems: 10, maxInFlight: 2 });

    const a = track(c.submit('a'));
    await until(() => h.calls.length === 1);
    const b = track(c.submit('b'));
    await until(() => h.calls.length === 2);
    expect(h.running).toBe(2); // the first is still open: the two really overlap
    expect(h.calls.map((x) => x.items)).toEqual([['a'], ['b']]);

    const d = track(c.submit('d'));
    const e = track(c.submit('e'));
    for (let i = 0; i < 5; i++) await tick();
    expect(h.calls).toHaveLength(2); // both slots taken

    // the second flush ends first: its slot goes to the waiting pair while the first is still open
    h.calls[1].d.resolve(['B']);
    await until(() => h.calls.length === 3);
    expect(h.calls[2].items).toEqual(['d', 'e']);
    expect(b).toMatchObject({ state: 'resolved', value: 'B' });
    expect(a.state).toBe('pending');
    expect(h.running).toBe(2);

    h.calls[0].d.resolve(['A']);
    h.calls[2].d.resolve(['D', 'E']);
    await until(() => [a, d, e].every((t) => t.state !== 'pending'));
    expect([a.value, d.value, e.value]).toEqual(['A', 'D', 'E']);
    expect(h.maxRunning).toBe(2);
    expect(h.calls).toHaveLength(3);
  });

  it('with overlapAfterMs, a second flush starts beside a running one only once that one has run so long', async () => {
    const h = heldFlush<string, string>();
    const c = new Coalescer<string, string>(h.flush, { maxItems: 3, maxInFlight: 2, overlapAfterMs: 150 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    const a = track(c.submit('a'));
    await until(() => h.calls.length === 1);
    const started = Date.now();
    const b = track(c.submit('b'));
    const d = track(c.submit('d'));
    // the first flush runs: the newcomers wait together instead of starting a second, smaller group at once
    for (let i = 0; i < 5; i++) await tick();
    await sleep(50);
    expect(h.calls).toHaveLength(1);
    // ... until it has run overlapAfterMs: a flush held up holds the others up for no longer than that
    await sleep(150);
    await until(() => h.calls.length === 2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(h.running).toBe(2);
    expect(h.calls[1].items).toEqual(['b', 'd']);

    h.calls[0].d.resolve(['A']);
    h.calls[1].d.resolve(['B', 'D']);
    await until(() => [a, b, d].every((t) => t.state !== 'pending'));
    expect([a.value, b.value, d.value]).toEqual(['A', 'B', 'D']);
  });

  it('with overlapAfterMs, a full group starts beside a running flush at once, and a lone newcomer waits for the newest flush to end', async () => {
    const h = heldFlush<string, string>();
    const c = new Coalescer<string, string>(h.flush, { maxItems: 2, maxInFlight: 2, overlapAfterMs: 60_000 });

    const a = track(c.submit('a'));
    await until(() => h.calls.length === 1);
    const full = ['b', 'd'].map((x) => track(c.submit(x)));
    await until(() => h.calls.length === 2);
    expect(h.running).toBe(2);
    expect(h.calls[1].items).toEqual(['b', 'd']);

    const e = track(c.submit('e'));
    for (let i = 0; i < 5; i++) await tick();
    expect(h.calls).toHaveLength(2); // both slots taken
    h.calls[1].d.resolve(['B', 'D']);
    for (let i = 0; i < 5; i++) await tick();
    // a slot is free, but the first flush started just now and the group is not full: e waits for that flush
    expect(h.calls).toHaveLength(2);
    h.calls[0].d.resolve(['A']);
    await until(() => h.calls.length === 3);
    expect(h.calls[2].items).toEqual(['e']);
    h.calls[2].d.resolve(['E']);
    await until(() => [a, ...full, e].every((t) => t.state !== 'pending'));
    expect([a, ...full, e].map((t) => t.value)).toEqual(['A', 'B', 'D', 'E']);
  });

  it('maxInFlight 2 with a burst larger than maxItems starts two groups at once', async () => {
    const h = heldFlush<number, number>();
    const c = new Coalescer<number, number>(h.flush, { maxItems: 2, maxInFlight: 2 });
    const ps = [1, 2, 3, 4, 5].map((i) => track(c.submit(i)));
    await until(() => h.calls.length === 2);
    expect(h.calls.map((x) => x.items)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    for (let i = 0; i < 5; i++) await tick();
    expect(h.calls).toHaveLength(2);
    h.calls[0].d.resolve([10, 20]);
    await until(() => h.calls.length === 3);
    expect(h.calls[2].items).toEqual([5]);
    h.calls[1].d.resolve([30, 40]);
    h.calls[2].d.resolve([50]);
    await until(() => ps.every((t) => t.state !== 'pending'));
    expect(ps.map((t) => t.value)).toEqual([10, 20, 30, 40, 50]);
  });

  it('a multi-item flush that throws is retried item by item: only the poison item fails', async () => {
    const calls: string[][] = [];
    const poison = new Error('bad row: poison');
    const c = new Coalescer<string, string>(
      async (items) => {
        calls.push([...items]);
        if (items.includes('poison')) throw poison;
        return items.map((i) => i.toUpperCase());
      },
      { maxItems: 10 },
    );
    const [a, p, b] = await Promise.allSettled([c.submit('a'), c.submit('poison'), c.submit('b')]);
    expect(a).toEqual({ status: 'fulfilled', value: 'A' });
    expect(p).toEqual({ status: 'rejected', reason: poison });
    expect(b).toEqual({ status: 'fulfilled', value: 'B' });
    expect(calls).toEqual([['a', 'poison', 'b'], ['a'], ['poison'], ['b']]);
  });

  it('two poison items in a group each fail with their own error', async () => {
    const c = new Coalescer<string, string>(
      async (items) => {
        const bad = items.find((i) => i.startsWith('x'));
        if (bad) throw new Error(`bad ${bad}`);
        return items;
      },
      { maxItems: 10 },
    );
    const res = await Promise.allSettled(['x1', 'ok', 'x2'].map((i) => c.submit(i)));
    expect(res[0]).toMatchObject({ status: 'rejected', reason: { message: 'bad x1' } });
    expect(res[1]).toEqual({ status: 'fulfilled', value: 'ok' });
    expect(res[2]).toMatchObject({ status: 'rejected', reason: { message: 'bad x2' } });
  });

  it("a lone item's error goes to its caller, with no retry", async () => {
    let calls = 0;
    const boom = new Error('boom');
    const c = new Coalescer<number, number>(
      async () => {
        calls += 1;
        throw boom;
      },
      { maxItems: 10 },
    );
    await expect(c.submit(1)).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it('keeps going after a failed flush: the next group is flushed normally', async () => {
    let fail = true;
    const c = new Coalescer<number, number>(
      async (items) => {
        if (fail) {
          fail = false;
          throw new Error('transient');
        }
        return items.map((i) => -i);
      },
      { maxItems: 10 },
    );
    await expect(c.submit(1)).rejects.toThrow('transient');
    await expect(Promise.all([c.submit(2), c.submit(3)])).resolves.toEqual([-2, -3]);
  });

  it('a lone item whose flush returns the wrong number of results gets an error', async () => {
    const none = new Coalescer<number, number>(async () => [], { maxItems: 10 });
    await expect(none.submit(1)).rejects.toThrow('flush returned 0 results for 1 items');
    const two = new Coalescer<number, number>(async (items) => [...items, 99], { maxItems: 10 });
    await expect(two.submit(1)).rejects.toThrow('flush returned 2 results for 1 items');
  });

  // The item-by-item retry after a failed group checks the result count too (it once resolved callers with
  // `undefined` when the flush kept answering one result short).
  it('a group whose flush keeps returning too few results: every caller gets an error, none gets undefined', async () => {
    const calls: number[][] = [];
    const c = new Coalescer<number, number>(
      async (items) => {
        calls.push([...items]);
        return items.slice(1).map((i) => i * 10); // always one result short
      },
      { maxItems: 10 },
    );
    const res = await Promise.allSettled([c.submit(1), c.submit(2), c.submit(3)]);
    expect(calls[0]).toEqual([1, 2, 3]);
    const outcome = res.map((r) => (r.status === 'fulfilled' ? { fulfilled: r.value } : { rejected: (r.reason as Error).message }));
    expect(outcome).toEqual([1, 2, 3].map(() => ({ rejected: expect.stringMatching(/flush returned 0 results for 1 items/) })));
  });

  it('a group whose flush returns the wrong count is retried item by item, like a throwing one', async () => {
    const calls: number[][] = [];
    const c = new Coalescer<number, number>(
      async (items) => {
        calls.push([...items]);
        return items.length > 1 ? [...items.map((i) => i * 10), 0] : items.map((i) => i * 10);
      },
      { maxItems: 10 },
    );
    await expect(Promise.all([c.submit(1), c.submit(2)])).resolves.toEqual([10, 20]);
    expect(calls).toEqual([[1, 2], [1], [2]]);
  });

  it('counts flushes and items, and the time spent in successful flushes', async () => {
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const h = heldFlush<number, number>();
    const c = new Coalescer<number, number>(h.flush, { maxItems: 3 });
    expect([c.flushes, c.items, c.busyMs]).toEqual([0, 0, 0]);

    const burst = [1, 2, 3, 4].map((i) => c.submit(i));
    await until(() => h.calls.length === 1);
    expect([c.flushes, c.items]).toEqual([1, 3]); // counted as the flush starts
    now += 40;
    h.calls[0].d.resolve([1, 2, 3]);
    await until(() => h.calls.length === 2);
    expect(c.busyMs).toBe(40);
    expect([c.flushes, c.items]).toEqual([2, 4]);
    now += 15;
    h.calls[1].d.resolve([4]);
    await Promise.all(burst);
    expect(c.busyMs).toBe(55);

    // a failed flush adds no busy time
    const failing = c.submit(9);
    await until(() => h.calls.length === 3);
    now += 1000;
    h.calls[2].d.reject(new Error('nope'));
    await expect(failing).rejects.toThrow('nope');
    expect(c.busyMs).toBe(55);
    expect([c.flushes, c.items]).toEqual([3, 5]);
    expect(c.pending).toBe(0);
  });
});

describe('gatherMs (a flush that never waits on I/O)', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** Submits one item per event-loop turn, as a server takes fresh connections; resolves with their promises. */
  async function onePerTurn(c: Coalescer<number, number>, items: number[], each?: () => void): Promise<Promise<number>[]> {
    const ps: Promise<number>[] = [];
    for (const i of items) {
      ps.push(c.submit(i));
      each?.();
      await tick();
    }
    return ps;
  }

  it('items that arrive one per turn go in one group while they keep coming (without it: one flush each)', async () => {
    const grouped: number[][] = [];
    const alone: number[][] = [];
    const flush = (calls: number[][]) => async (items: number[]) => (calls.push([...items]), items.map((i) => -i));
    const c = new Coalescer<number, number>(flush(grouped), { maxItems: 10, gatherMs: 60_000 });
    const plain = new Coalescer<number, number>(flush(alone), { maxItems: 10 });
    await expect(Promise.all(await onePerTurn(c, [1, 2, 3, 4]))).resolves.toEqual([-1, -2, -3, -4]);
    await expect(Promise.all(await onePerTurn(plain, [1, 2, 3, 4]))).resolves.toEqual([-1, -2, -3, -4]);
    expect(grouped).toEqual([[1, 2, 3, 4]]);
    expect(alone).toEqual([[1], [2], [3], [4]]);
  });

  it('a lone item waits one turn more, not gatherMs', async () => {
    const c = new Coalescer<number, number>(async (items) => items, { maxItems: 10, gatherMs: 60_000 });
    const p = track(c.submit(7));
    await until(() => p.state === 'resolved', 3);
    expect(p.value).toBe(7);
  });

  it('stops gathering after gatherMs, or at maxItems, though items keep coming', async () => {
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    const calls: number[][] = [];
    const flush = async (items: number[]) => (calls.push([...items]), items);
    const timed = new Coalescer<number, number>(flush, { maxItems: 100, gatherMs: 5 });
    await Promise.all(await onePerTurn(timed, [1, 2, 3, 4, 5, 6], () => (now += 2)));
    expect(calls).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]); // 6 ms after its first turn the group goes, with the 4th
    calls.length = 0;
    const full = new Coalescer<number, number>(flush, { maxItems: 2, gatherMs: 60_000 });
    await Promise.all(await onePerTurn(full, [1, 2, 3, 4, 5]));
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('an outage', () => {
  it('fails the group and everyone waiting at once, without a flush apiece', async () => {
    const gates: Deferred<number[]>[] = [];
    const flushed: number[][] = [];
    const c = new Coalescer<number, number>(
      (items) => {
        flushed.push(items);
        const d = deferred<number[]>();
        gates.push(d);
        return d.promise;
      },
      { maxItems: 2, maxInFlight: 1 },
    );
    const first = [track(c.submit(1)), track(c.submit(2))];
    await until(() => gates.length === 1);
    const waiting = [track(c.submit(3)), track(c.submit(4)), track(c.submit(5))];
    gates[0].reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' }));
    await until(() => [...first, ...waiting].every((t) => t.state === 'rejected'));
    expect(flushed).toEqual([[1, 2]]);
    expect((waiting[0].error as { code: string }).code).toBe('ECONNREFUSED');
  });
});
