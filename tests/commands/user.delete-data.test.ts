import { makeCaller } from '../fuzz/fixtures';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1' });
});
afterAll(async () => {
  await h.close();
});

/** Every table's name and columns, read from the store itself, so a table added later is checked too. */
async function tablesWith(): Promise<Map<string, string[]>> {
  const db = h.services.db;
  const names: string[] =
    h.backend === 'mysql'
      ? (await db.raw('SHOW TABLES'))[0].map((r: Record<string, string>) => Object.values(r)[0])
      : (await db.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).map((r: { name: string }) => r.name);
  const out = new Map<string, string[]>();
  for (const name of names) out.set(name, Object.keys(await db(name).columnInfo()));
  return out;
}

/** Rows anywhere that still name one of the account's ids: its user id, domain ids, list ids, message ids. */
async function leftovers(ids: { userId: number; domainIds: number[]; listIds: number[]; messageIds: string[] }): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  const db = h.services.db;
  for (const [table, columns] of await tablesWith()) {
    if (table.startsWith('knex_')) continue;
    const q = db(table);
    let any = false;
    const where = (col: string, values: (number | string)[]) => {
      if (!columns.includes(col) || !values.length) return;
      q.orWhereIn(col, values);
      any = true;
    };
    where('user_id', [ids.userId]);
    where('domain_id', ids.domainIds);
    where('sender_domain_id', ids.domainIds);
    where('list_id', ids.listIds);
    where('message_id', ids.messageIds);
    if (table === 'users') where('id', [ids.userId]);
    if (table === 'sessions') q.orWhere((w) => w.where({ kind: 'user', subject_id: ids.userId }));
    if (!any && table !== 'sessions') continue;
    const n = Number((await q.count({ n: '*' }).first())!.n);
    if (n) found[table] = n;
  }
  return found;
}

describe('user.delete removes everything the account owned', () => {
  it('leaves no row of the account in any table, and another account keeps all of its own', async () => {
    // One of everything, as the fuzzer's caller has, plus what that does not make.
    const gone = await makeCaller(h);
    const keep = await makeCaller(h);
    for (const c of [gone, keep]) {
      const as = (command: string, p: Record<string, unknown>) => h.call({ Command: command, SessionID: c.sessionId, ...p });
      expect(await as('suppression.import', { EmailAddresses: ['blocked@example.org'] })).toMatchObject({ Success: true });
      expect(await as('emailgateway.addsuppression', { DomainID: c.ids.domainId, EmailAddress: 'dom@example.org' })).toMatchObject({ Success: true });
      const camp = await as('campaign.create', { CampaignName: 'Draft', Subject: 'Hi', ListID: c.ids.listId, PlainContent: 'Hello' });
      expect(camp).toMatchObject({ Success: true });
      const batch = await h.request('POST', '/api/v1/email/batch', {
        headers: { Authorization: `Bearer ${c.senderKey}` },
        body: {
          Messages: Array.from({ length: 60 }, (_, i) => ({
            Subject: `b${i}`,
            ContentType: 'plain',
            PlainContent: 'x',
            From: { email: String(c.ids.fromAddress) },
            To: [{ email: `r${i}@example.org` }],
          })),
        },
      });
      expect(batch.status).toBeLessThan(300);
    }
    // A batch is kept as one row until its job or the account's next command fans it out: ask, then compare.
    for (const c of [gone, keep]) {
      expect(await h.call({ Command: 'lists.get', SessionID: c.sessionId })).toMatchObject({ Success: true });
    }
    expect(
      await h.services
        .db('pending_batches')
        .whereIn('user_id', [Number(gone.ids.userId), Number(keep.ids.userId)])
        .first(),
    ).toBeUndefined();
    const messageIds = async (userId: number) => (await h.services.db('messages').where({ user_id: userId }).pluck('id')).map(String);
    const ids = (c: typeof gone, messages: string[]) => ({
      userId: Number(c.ids.userId),
      domainIds: [Number(c.ids.domainId)],
      listIds: [Number(c.ids.listId)],
      messageIds: messages,
    });
    const goneIds = ids(gone, await messageIds(Number(gone.ids.userId)));
    const keepIds = ids(keep, await messageIds(Number(keep.ids.userId)));
    const keptBefore = await leftovers(keepIds);

    expect(await h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, UserID: gone.ids.userId })).toEqual({ Success: true, ErrorCode: 0 });

    expect(await leftovers(goneIds)).toEqual({});
    expect(await leftovers(keepIds)).toEqual(keptBefore);
    // The other account still works end to end.
    const s = await senderSetup(h);
    expect(s.userId).not.toBe(goneIds.userId);
    expect(await h.call({ Command: 'lists.get', SessionID: keep.sessionId })).toMatchObject({ Success: true, TotalListCount: 1 });
  });
});
