/** Turn-taking for heavy commands (src/admission.ts); through the doors: tests/mysql-only/batch-admission.test.ts. */
import { Admission } from '../src/admission';
import { HardError } from '../src/errors';

describe('Admission', () => {
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };

  it('hands slots out first come first served, and a newcomer does not overtake the line', async () => {
    const a = new Admission({ slots: 1, queue: 5, maxWaitMs: 5000, what: 'jobs' });
    const order: string[] = [];
    const first = gate();
    const runs = [
      a.run(async () => {
        order.push('first');
        await first.p;
      }),
      a.run(async () => void order.push('second')),
      a.run(async () => void order.push('third')),
    ];
    expect(a.active).toBe(1);
    expect(a.waiting).toBe(2);
    first.open();
    await Promise.all(runs);
    expect(order).toEqual(['first', 'second', 'third']);
    expect(a.active).toBe(0);
  });

  it('refuses one waiting past maxWaitMs with 503 and frees its place in line', async () => {
    const a = new Admission({ slots: 1, queue: 1, maxWaitMs: 50, what: 'jobs' });
    const first = gate();
    const running = a.run(() => first.p);
    const late = a.run(async () => 'ran');
    await expect(late).rejects.toMatchObject({ code: 100007, httpStatus: 503, retryAfterSec: 2 });
    await expect(late).rejects.toBeInstanceOf(HardError);
    expect(a.waiting).toBe(0);
    first.open();
    await running;
    await expect(a.run(async () => 'ran')).resolves.toBe('ran');
  });

  it('passes a failure of the work to its caller and gives the slot back', async () => {
    const a = new Admission({ slots: 1, queue: 0, maxWaitMs: 1000, what: 'jobs' });
    await expect(a.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(a.run(async () => 'next')).resolves.toBe('next');
  });
});
