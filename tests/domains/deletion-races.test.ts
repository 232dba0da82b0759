/**
 * A domain's deletion (the real emailgateway.deletedomain) run at the same time as a door that writes for the domain
 * (src/domains/deleting.ts). Its first step marks the domain under the account's row lock; each door checks the mark
 * under the same lock. Either the door wins (it takes the lock first: its write lands, and the deletion then removes
 * it) or the mark does (the door read the domain before the mark and takes the lock after it: refused, nothing
 * written); never a row left for a deleted domain. Each ordering is made at chosen statements (see markFirst and
 * doorFirst); the deletion is held after its first step while the store is checked. A deletion done entirely between
 * a door's read and its transaction (atNextTransaction) gets the door's answer for a domain gone, not a 500, and
 * so does one done after the door's transaction, before it read back what it wrote (or while webhook.create's test
 * ping was out). A key limited to the domain, deleted just after the key committed, is answered naming it as stored.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { atStatement } from '../helpers/at-statement';
import { backend, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  // Webhooks at a loopback port nothing listens on: the URL guard must pass them, so that only the mark refuses.
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1' });
});
afterAll(async () => h.close());

type Sender = Awaited<ReturnType<typeof senderSetup>> & { smtpId: number };
type Matcher = (sql: string, bindings: unknown[]) => boolean;

const HOOK = { Event: 'delivery', WebhookURL: 'http://127.0.0.1:9/hook' };
const ids = (rows: { id: number }[]) => rows.map((r) => Number(r.id));

/** The door's read of the domain before its transaction (findOwnedDomain). */
const domainRead =
  (s: Sender): Matcher =>
  (sql, b) =>
    /^select \* from [`"]sender_domains[`"] where [`"]id[`"] = \?/i.test(sql) && b.includes(s.domainId);

/**
 * Each door that writes for a domain: its call, its read before its transaction, what it writes as the store holds it
 * (a list for the domain, empty once the domain is gone), that list once it has won, and its refusal.
 */
interface Door {
  params(s: Sender): Record<string, unknown>;
  read(s: Sender): Matcher;
  written(s: Sender): Promise<unknown[]>;
  won(reply: any, before: unknown[]): unknown[];
  refused: Record<string, unknown>;
  /** Its answer for a domain deleted between its read and its transaction. */
  gone: Record<string, unknown>;
}

const db = () => h.services.db;
const DOORS: Record<string, Door> = {
  'emailgateway.addapi': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId, Description: 'race' }),
    read: domainRead,
    written: async (s) => ids(await db()('domain_api_keys').where({ domain_id: s.domainId }).orderBy('id').select('id')),
    won: (r, before) => [...before, r.NewAPIKeyID],
    refused: { ErrorCode: 5 },
    gone: { ErrorCode: 3 },
  },
  'emailgateway.replaceapi': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId, Description: 'race' }),
    read: domainRead,
    written: async (s) => ids(await db()('domain_api_keys').where({ domain_id: s.domainId }).orderBy('id').select('id')),
    won: (r) => [r.NewAPIKeyID],
    refused: { ErrorCode: 6 },
    gone: { ErrorCode: 3 },
  },
  'emailgateway.addsmtp': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId }),
    read: domainRead,
    written: async (s) => ids(await db()('smtp_credentials').where({ domain_id: s.domainId }).orderBy('id').select('id')),
    won: (r, before) => [...before, r.NewSMTPID],
    refused: { ErrorCode: 4 },
    gone: { ErrorCode: 2 },
  },
  'emailgateway.resetsmtppassword': {
    params: (s) => ({ SessionID: s.sessionId, SMTPID: s.smtpId }),
    read: (s) => (sql, b) => /^select [`"]domain_id[`"] from [`"]smtp_credentials[`"]/i.test(sql) && b.includes(s.smtpId),
    written: (s) => db()('smtp_credentials').where({ domain_id: s.domainId }).pluck('password_hash'),
    won: (_r, before) => [expect.not.stringContaining(String(before[0]))],
    refused: { ErrorCode: 4 },
    gone: { ErrorCode: 2 },
  },
  'emailgateway.addwebhook': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId, ...HOOK }),
    read: domainRead,
    // Its webhook and the signing key made for it (none for a domain being deleted).
    written: async (s) => [
      ...ids(await db()('webhooks').where({ domain_id: s.domainId }).select('id')),
      ...(await db()('webhook_signing_keys').where({ domain_id: s.domainId }).pluck('domain_id')).map(() => 'key'),
    ],
    won: (r) => [r.NewWebhookID, 'key'],
    refused: { ErrorCode: 9 },
    gone: { ErrorCode: 4 },
  },
  'emailgateway.regeneratesigningkey': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId }),
    read: domainRead,
    written: (s) => db()('webhook_signing_keys').where({ domain_id: s.domainId }).pluck('domain_id'),
    won: () => [expect.anything()],
    refused: { ErrorCode: 4 },
    gone: { ErrorCode: 3 },
  },
  // A read that makes the domain's first signing key: none for a domain being deleted, SigningKey null instead.
  'emailgateway.getwebhooks': {
    params: (s) => ({ SessionID: s.sessionId, DomainID: s.domainId }),
    read: domainRead,
    written: (s) => db()('webhook_signing_keys').where({ domain_id: s.domainId }).pluck('domain_id'),
    won: () => [expect.anything()],
    refused: { Success: true, SigningKey: null, SigningSecret: null },
    gone: { Success: true, ErrorCode: 0, SigningKey: null, SigningSecret: null, Webhooks: [] },
  },
};

/** A sender with an SMTP login, for resetsmtppassword. */
async function sender(): Promise<Sender> {
  const s = await senderSetup(h);
  const smtp = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  return { ...s, smtpId: smtp.NewSMTPID };
}

const deleteDomain = (s: Sender) => h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId });

/** The deletion's first statement after its first step (the mark) has committed: its purge's first read. */
const purgeStarts =
  (s: Sender): Matcher =>
  (sql, b) =>
    /from [`"]deliveries[`"]/i.test(sql) && b.includes(s.domainId);

/** The deletion as started by an ordering: `marked` once its first step has committed (or it failed before). */
type Deletion = { marked: Promise<void>; done: Promise<any> };
type Ordering = (deletion: () => Deletion) => Promise<{ door: any; deletion: Promise<any> }>;

/**
 * Runs the door and the deletion in the order `start` makes, the deletion held after its first step until `atMark`
 * has looked at the store (the door has answered by then). The gates are put back whatever happens.
 */
async function race(s: Sender, start: Ordering, atMark: (door: any) => Promise<void>) {
  let answered!: (door: any) => void;
  const door = new Promise<any>((r) => (answered = r));
  let marked!: () => void;
  const isMarked = new Promise<void>((r) => (marked = r));
  const purge = atStatement(db(), 'before', purgeStarts(s), async () => {
    marked();
    await atMark(await door);
  });
  try {
    const run = await start(() => {
      const done = deleteDomain(s);
      return { marked: Promise.race([isMarked, done.then(() => undefined)]), done };
    });
    answered(run.door);
    const deleted = await run.deletion;
    expect(purge.fired).toBe(true);
    await purge.result;
    return { door: run.door, deletion: deleted };
  } finally {
    answered(undefined);
    purge.restore();
  }
}

/**
 * The mark wins: the door reads the domain (unmarked), then the deletion's first step commits, then the door goes on
 * to its transaction. Made at the door's read: the deletion runs there up to its held purge.
 */
function markFirst(s: Sender, d: Door, call: () => Promise<any>): Ordering {
  return async (deletion) => {
    let running: Deletion | undefined;
    const read = atStatement(db(), 'after', d.read(s), async () => {
      running = deletion();
      await running.marked;
    });
    try {
      const door = await call();
      expect(read.fired).toBe(true);
      return { door, deletion: running!.done };
    } finally {
      read.restore();
    }
  };
}

/**
 * Whether another connection of this database has a statement like `pattern` at the server (MySQL's processlist, read
 * live: information_schema.innodb_trx is a cache refreshed only after 100 ms without a read).
 */
async function atServer(pattern: string): Promise<boolean> {
  const [rows] = await db().raw('select count(*) as n from information_schema.processlist where db = database() and id <> connection_id() and info like ?', [
    pattern,
  ]);
  return Number(rows[0].n) > 0;
}

async function until(what: string, ok: () => Promise<boolean>) {
  for (const started = Date.now(); !(await ok());) {
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The door wins: it holds the account's row lock when the deletion's first step asks for it. On MySQL the test holds
 * the domain's row, so the door waits at its locked read of the mark with the account's lock taken; the deletion is
 * started then and waits for that lock; the row is let go once both wait at the server. SQLite has one connection: the deletion is
 * asked for once the door's transaction has it, and runs after it.
 */
function doorFirst(s: Sender, call: () => Promise<any>): Ordering {
  return async (deletion) => {
    if (backend() === 'sqlite') {
      let running: Deletion | undefined;
      const locking = (q: { sql?: string; __knexTxId?: string }) => {
        if (!running && q.__knexTxId && /^select [`"]id[`"] from [`"]users[`"]/i.test(q.sql ?? '')) running = deletion();
      };
      db().on('query', locking);
      try {
        const door = await call();
        expect(running).toBeDefined();
        return { door, deletion: running!.done };
      } finally {
        db().off('query', locking);
      }
    }
    const row = await db().transaction();
    try {
      await row('sender_domains').where({ id: s.domainId }).forUpdate().first('id');
      const door = call();
      // Its locked read of the domain, sent with the account's lock held: it cannot finish while the row is held.
      await until('the door waits for the domain row', () => atServer(`%from \`sender_domains\` where \`id\` = ${s.domainId} %lock in share mode`));
      const running = deletion();
      await until('the deletion waits for the account row', () => atServer(`%from \`users\` where \`id\` = ${s.userId} %for update`));
      await row.commit();
      return { door: await door, deletion: running.done };
    } finally {
      if (!row.isCompleted()) await row.rollback();
    }
  };
}

/**
 * Runs `step` once at the next transaction: 'before' when it is asked for, before it takes a connection (it begins once
 * `step` is done; transactions begun by `step` itself go through), or 'after' it has committed, before the code that
 * asked for it goes on (as a deletion whose request arrives just then would run). Wraps the test's own knex instance
 * (no module mocking).
 */
function atNextTransaction<T>(when: 'before' | 'after', step: () => Promise<T>) {
  const { context } = db() as unknown as { context: { transaction: (...args: unknown[]) => Promise<unknown> } };
  const original = context.transaction;
  const gate: { fired: boolean; result?: Promise<T>; restore(): void } = { fired: false, restore: () => (context.transaction = original) };
  context.transaction = function (this: unknown, ...args: unknown[]) {
    if (gate.fired) return original.apply(this, args);
    gate.fired = true;
    if (when === 'before') {
      gate.result = step();
      return gate.result.then(() => original.apply(this, args));
    }
    return original.apply(this, args).then(async (committed) => {
      await (gate.result = step());
      return committed;
    });
  };
  return gate;
}

/** Runs `call` with the whole deletion done as its first transaction is asked for, after its reads of the domain. */
async function deletedBeforeTransaction(s: Sender, call: () => Promise<any>) {
  const gate = atNextTransaction('before', () => deleteDomain(s));
  try {
    const reply = await call();
    expect(gate.fired).toBe(true);
    expect(await gate.result).toEqual({ Success: true, ErrorCode: 0 });
    return reply;
  } finally {
    gate.restore();
  }
}

describe.each(Object.entries(DOORS))('%s and the domain deletion at the same time', (command, d) => {
  const call = (s: Sender) => () => h.call({ Command: command, ...d.params(s) });

  it('the mark first: the door read the domain before it and is refused under the lock, nothing written', async () => {
    const s = await sender();
    const before = await d.written(s);
    const r = await race(s, markFirst(s, d, call(s)), async (door) => {
      expect(door).toMatchObject(d.refused);
      expect(await d.written(s)).toEqual(before);
    });
    expect(r.deletion).toEqual({ Success: true, ErrorCode: 0 });
    expect(await d.written(s)).toEqual([]);
  });

  it('the door first: its write lands before the mark, and the deletion removes it', async () => {
    const s = await sender();
    const before = await d.written(s);
    const r = await race(s, doorFirst(s, call(s)), async (door) => {
      expect(door).toMatchObject({ Success: true });
      expect(await d.written(s)).toEqual(d.won(door, before));
    });
    expect(r.deletion).toEqual({ Success: true, ErrorCode: 0 });
    expect(await d.written(s)).toEqual([]);
    expect(await db()('sender_domains').where({ id: s.domainId }).first('id')).toBeUndefined();
  });

  it('the whole deletion between its read and its transaction: its answer for a domain gone (not a 500), nothing written', async () => {
    const s = await sender();
    expect(await deletedBeforeTransaction(s, call(s))).toMatchObject({ Success: false, ...d.gone });
    expect(await d.written(s)).toEqual([]);
  });
});

describe.each([
  ['emailgateway.addwebhook.public', { Event: 'delivered', WebhookURL: HOOK.WebhookURL }, { ErrorCode: 13 }],
  [
    'webhook.create',
    { URL: HOOK.WebhookURL, Events: 'delivered', Format: 'standard' },
    { ErrorCode: 46, ErrorText: expect.stringMatching(/no longer exists/) },
  ],
])('%s with the sender key of a domain deleted meanwhile', (Command, params, gone) => {
  it('answers as for a key whose domain is gone (not a 500), nothing written', async () => {
    const s = await sender();
    const r = await deletedBeforeTransaction(s, () => h.call({ Command, SenderAPIKey: s.key, ...params }));
    expect(r).toMatchObject({ Success: false, ...gone });
    expect(await db()('webhooks').where({ user_id: s.userId }).pluck('id')).toEqual([]);
  });
});

describe('user.apikey.create limited to a domain its deletion takes meanwhile', () => {
  const create = (s: Sender) => h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'race', KeyType: 'account', Domains: s.domain });
  const keys = async (s: Sender) => ids(await db()('user_api_keys').where({ user_id: s.userId }).select('id'));

  it('a domain deleted after the call read its parameters, before its transaction, is unknown: code 8, no key made', async () => {
    const s = await sender();
    const before = await keys(s);
    const r = await deletedBeforeTransaction(s, () => create(s));
    expect(r).toEqual({ Success: false, ErrorCode: 8, ErrorText: `Invalid Domains: ${s.domain} is not a sender domain of this account` });
    expect(await keys(s)).toEqual(before);
  });

  it('a deletion done right after the key is stored: the reply names the domain, as stored; the key list then drops it', async () => {
    const s = await sender();
    const gate = atNextTransaction('after', () => deleteDomain(s));
    try {
      const r = await create(s);
      expect(gate.fired).toBe(true);
      expect(await gate.result).toEqual({ Success: true, ErrorCode: 0 });
      expect(r).toMatchObject({ Success: true, APIKey: { KeyType: 'account', Domains: [s.domain] } });
      const listed = await h.call({ Command: 'user.apikey.list', SessionID: s.sessionId });
      expect(listed.APIKeys.find((k: { APIKeyID: number }) => k.APIKeyID === r.APIKeyID)).toMatchObject({ Domains: [] });
    } finally {
      gate.restore();
    }
  });

  it("a deletion whose first step commits then is seen under the key's lock: code 14, no key made", async () => {
    const s = await sender();
    const before = await keys(s);
    const r = await race(
      s,
      async (deletion) => {
        let running: Deletion | undefined;
        const gate = atNextTransaction('before', async () => {
          running = deletion();
          await running.marked;
        });
        try {
          const door = await create(s);
          return { door, deletion: running!.done };
        } finally {
          gate.restore();
        }
      },
      async (door) => {
        expect(door).toMatchObject({ Success: false, ErrorCode: 14, ErrorText: expect.stringContaining(`${s.domain} is being deleted`) });
        expect(await keys(s)).toEqual(before);
      },
    );
    expect(r.deletion).toEqual({ Success: true, ErrorCode: 0 });
  });
});

/** A deletion done entirely after the door's transaction committed, before what it does next: its answer for a domain gone. */
describe('the whole deletion after the door wrote, before it answered', () => {
  const hooks = (s: Sender) => db()('webhooks').where({ user_id: s.userId }).pluck('id');
  /** The doors' read-backs, outside their transactions. */
  const hookRead: Matcher = (sql) => /^select \* from [`"]webhooks[`"] where [`"]id[`"] = \?/i.test(sql);
  const loginRead: Matcher = (sql) => /^select [`"]id[`"], [`"]username[`"] from [`"]smtp_credentials[`"]/i.test(sql);

  it.each([200, 500])('webhook.create Ping=1: the deletion finishes while the ping is out (the receiver answers %i): 46, nothing left', async (status) => {
    const s = await sender();
    let deletion: Promise<any> | undefined;
    const receiver = http.createServer((q, res) => {
      q.resume();
      q.on('end', async () => {
        deletion = deleteDomain(s);
        await deletion;
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const r = await h.call({ Command: 'webhook.create', SenderAPIKey: s.key, URL: url, Events: 'delivered', Ping: 1 });
      expect(await deletion).toEqual({ Success: true, ErrorCode: 0 });
      expect(r).toMatchObject({ Success: false, ErrorCode: 46, ErrorText: expect.stringMatching(/no longer exists/) });
      expect(await hooks(s)).toEqual([]);
    } finally {
      receiver.close();
    }
  });

  it('webhook.create: the deletion finishes between its commit and its read-back: 46, nothing left', async () => {
    const s = await sender();
    const gate = atStatement(db(), 'before', hookRead, () => deleteDomain(s));
    try {
      const r = await h.call({ Command: 'webhook.create', SenderAPIKey: s.key, URL: HOOK.WebhookURL, Events: 'delivered' });
      expect(gate.fired).toBe(true);
      expect(await gate.result).toEqual({ Success: true, ErrorCode: 0 });
      expect(r).toMatchObject({ Success: false, ErrorCode: 46, ErrorText: expect.stringMatching(/no longer exists/) });
      expect(await hooks(s)).toEqual([]);
    } finally {
      gate.restore();
    }
  });

  // rotatedkim writes in one conditional UPDATE, outside a transaction: the deletion just before it or just after it.
  it.each(['before', 'after'] as const)('emailgateway.rotatedkim: the deletion finishes %s its write: 2, not a 500', async (when) => {
    const s = await sender();
    const write: Matcher = (sql) => /^update [`"]sender_domains[`"] set [`"]dkim_next_selector[`"]/i.test(sql);
    const gate = atStatement(db(), when, write, () => deleteDomain(s));
    try {
      const r = await h.call({ Command: 'emailgateway.rotatedkim', SessionID: s.sessionId, DomainID: s.domainId });
      expect(gate.fired).toBe(true);
      expect(await gate.result).toEqual({ Success: true, ErrorCode: 0 });
      expect(r).toMatchObject({ Success: false, ErrorCode: 2 });
    } finally {
      gate.restore();
    }
  });

  it('emailgateway.resetsmtppassword: the deletion finishes between its update and its read-back: 2, the login gone', async () => {
    const s = await sender();
    const gate = atStatement(db(), 'before', loginRead, () => deleteDomain(s));
    try {
      const r = await h.call({ Command: 'emailgateway.resetsmtppassword', SessionID: s.sessionId, SMTPID: s.smtpId });
      expect(gate.fired).toBe(true);
      expect(await gate.result).toEqual({ Success: true, ErrorCode: 0 });
      expect(r).toMatchObject({ Success: false, ErrorCode: 2 });
      expect(await db()('smtp_credentials').where({ id: s.smtpId }).first('id')).toBeUndefined();
    } finally {
      gate.restore();
    }
  });
});
