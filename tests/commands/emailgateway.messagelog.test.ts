import crypto from 'node:crypto';
import { addDomain, createUser, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';

/** The session-side message log: getmessagelog, getmessagetimeline and cancelqueuedmessage through /api.php. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

type Sender = Awaited<ReturnType<typeof senderSetup>>;

async function send(s: Sender, to: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: `Hello ${crypto.randomBytes(3).toString('hex')}`,
      ContentType: 'plain',
      PlainContent: 'Hi',
      From: { name: '', email: `app@${s.domain}` },
      To: [{ name: '', email: to }],
      ...extra,
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

const log = (s: { sessionId: string }, params: Record<string, unknown> = {}) =>
  h.call({ Command: 'emailgateway.getmessagelog', SessionID: s.sessionId, ...params });

describe('emailgateway.getmessagelog', () => {
  let s: Sender;
  const ids: string[] = [];
  beforeAll(async () => {
    s = await senderSetup(h);
    ids.push(await send(s, 'first@recipient.test', { Tags: ['welcome'] }));
    ids.push(await send(s, 'Second@Recipient.test'));
    ids.push(await send(s, 'third@recipient.test', { Tags: ['welcome', 'b'] }));
    ids.push(await send(s, 'fourth@recipient.test'));
    ids.push(await send(s, 'fifth@recipient.test'));
  });

  it('pages newest first by cursor: every message once, HasMore until the last page', async () => {
    const seen: string[] = [];
    let before: string | undefined;
    let pages = 0;
    for (;;) {
      const r = await log(s, { RetrieveCount: 2, ...(before ? { Before: before } : {}) });
      expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
      seen.push(...r.Messages.map((m: { MessageID: string }) => m.MessageID));
      pages += 1;
      if (!r.HasMore) {
        expect(r.NextCursor).toBeNull();
        break;
      }
      before = r.NextCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const first = (await log(s, { RetrieveCount: 1 })).Messages[0];
    expect(first).toMatchObject({
      MessageID: ids[4],
      DomainID: s.domainId,
      SenderDomain: s.domain,
      From: `app@${s.domain}`,
      Status: 'queued',
      Tags: [],
      Recipients: [{ Email: 'fifth@recipient.test', Status: 'queued' }],
    });
    expect(first.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('filters by recipient (any case), tag, status, domain and dates', async () => {
    const idsOf = async (p: Record<string, unknown>) => (await log(s, p)).Messages.map((m: { MessageID: string }) => m.MessageID);
    expect(await idsOf({ Recipient: 'SECOND@recipient.TEST' })).toEqual([ids[1]]);
    expect(await idsOf({ Tag: 'welcome' })).toEqual([ids[2], ids[0]]);
    expect(await idsOf({ Tag: 'welc' })).toEqual([]);
    expect(await idsOf({ Status: 'delivered' })).toEqual([]);
    expect(await idsOf({ DomainID: s.domainId, Recipient: 'fourth@recipient.test' })).toEqual([ids[3]]);
    const other = await addDomain(h, s.sessionId, uniqueDomain('other'));
    expect(await idsOf({ DomainID: other })).toEqual([]);
    expect(await idsOf({ StartDate: '2099-01-01' })).toEqual([]);
    expect(await idsOf({ EndDate: '2000-01-01' })).toEqual([]);
    expect((await idsOf({ StartDate: new Date().toISOString().slice(0, 10) })).length).toBe(5);
    // The last days of 9998 and 9999 are dates like any other (the day after them answered HTTP 500).
    expect((await idsOf({ EndDate: '9998-12-31' })).length).toBe(5);
    expect(await idsOf({ StartDate: '9999-12-31', EndDate: '9999-12-31' })).toEqual([]);
  });

  it("never shows another user's messages or domains; answers 2 for their DomainID", async () => {
    const stranger = await createUser(h);
    expect((await log(stranger)).Messages).toEqual([]);
    expect(await log(stranger, { DomainID: s.domainId })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await log(stranger, { Recipient: 'first@recipient.test' })).toMatchObject({ Success: true, Messages: [] });
  });

  it('refuses a bad cursor (3), a bad date (4), a page over 100 ([1]) and no session (99998)', async () => {
    expect(await log(s, { Before: "1' or 1=1 --" })).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(await log(s, { StartDate: '2026-13-01' })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect(await log(s, { EndDate: '0100-01-15' })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect(await log(s, { RetrieveCount: 101 })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await log(s, { Status: 'lost' })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await log({ sessionId: 'nope' })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('emailgateway.getmessagetimeline and cancelqueuedmessage', () => {
  it('shows each recipient with its events, and cancels what is not sent yet exactly once', async () => {
    const s = await senderSetup(h);
    const id = await send(s, 'later@recipient.test', { SendAt: Math.floor(Date.now() / 1000) + 3600, CC: [{ name: '', email: 'cc@recipient.test' }] });
    const view = await h.call({ Command: 'emailgateway.getmessagetimeline', SessionID: s.sessionId, MessageID: id });
    expect(view).toMatchObject({ Success: true, MessageID: id, DomainID: s.domainId, SenderDomain: s.domain, Status: 'scheduled' });
    expect(view.Recipients.map((r: { Email: string; Type: string }) => [r.Email, r.Type])).toEqual([
      ['later@recipient.test', 'to'],
      ['cc@recipient.test', 'cc'],
    ]);
    expect(view.Recipients[0].Events.map((e: { Event: string }) => e.Event)).toEqual(['scheduled']);

    const cancel = () => h.call({ Command: 'emailgateway.cancelqueuedmessage', SessionID: s.sessionId, MessageID: id });
    expect(await cancel()).toMatchObject({ Success: true, MessageID: id, Cancelled: 2 });
    expect(await cancel()).toMatchObject({ Success: false, ErrorCode: 3 });
    const after = await h.call({ Command: 'emailgateway.getmessagetimeline', SessionID: s.sessionId, MessageID: id });
    expect(after.Status).toBe('cancelled');
    // Each recipient shows its own events only.
    for (const r of after.Recipients)
      expect(r.Events.map((e: { Event: string; Data: { recipient: string } }) => [e.Event, e.Data.recipient])).toEqual([
        ['scheduled', r.Email],
        ['cancelled', r.Email],
      ]);
    expect((await log(s, { Status: 'cancelled' })).Messages.map((m: { MessageID: string }) => m.MessageID)).toEqual([id]);
  });

  it("answers 2 for another user's message and 1 for a malformed id", async () => {
    const s = await senderSetup(h);
    const id = await send(s, 'x@recipient.test');
    const stranger = await createUser(h);
    for (const Command of ['emailgateway.getmessagetimeline', 'emailgateway.cancelqueuedmessage']) {
      expect(await h.call({ Command, SessionID: stranger.sessionId, MessageID: id })).toMatchObject({ Success: false, ErrorCode: 2 });
      expect(await h.call({ Command, SessionID: s.sessionId, MessageID: '../etc' })).toMatchObject({ Success: false, ErrorCode: [1] });
    }
    expect(await h.services.db('deliveries').where({ message_id: id }).first('status')).toEqual({ status: 'queued' });
  });
});

describe('a Before cursor in uppercase', () => {
  // A cursor's id is a message id, a lowercase UUID, so the cursor uppercased names the same place. Messages of one
  // millisecond are ordered by id, which the embedded store compares byte by byte (uppercase before lowercase): three
  // copies of a message at one time, with ids chosen so that only the cursor's id lowercased pages past them right.
  it('pages as the lowercase cursor does; a malformed one is still refused with 3', async () => {
    const s = await senderSetup(h);
    const newest = await send(s, 'upper@recipient.test');
    const row = await h.services.db('messages').where({ id: newest }).first();
    const at = Number(row.created_at) - 1000;
    const ids = ['aaaaaaaa-aaaa-4aaa-aaaa-aaaaaaaaaaaa', 'a0000000-0000-4000-8000-000000000000', '10000000-0000-4000-8000-000000000000'];
    await h.services.db('messages').insert(ids.map((id) => ({ ...row, id, created_at: at })));
    const idsOf = (r: { Messages: { MessageID: string }[] }) => r.Messages.map((m) => m.MessageID);

    const first = await log(s, { RetrieveCount: 2 });
    expect({ ids: idsOf(first), next: first.NextCursor }).toEqual({ ids: [newest, ids[0]], next: `${at}_${ids[0]}` });
    const lower = await log(s, { RetrieveCount: 2, Before: first.NextCursor });
    expect({ ids: idsOf(lower), more: lower.HasMore }).toEqual({ ids: [ids[1], ids[2]], more: false });
    expect(await log(s, { RetrieveCount: 2, Before: first.NextCursor.toUpperCase() })).toEqual(lower);

    for (const Before of [`${at}_${'G'.repeat(36)}`, `${at}_${ids[0].toUpperCase()}0`, `${at}-${ids[0].toUpperCase()}`])
      expect(await log(s, { Before })).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Invalid Before: pass the NextCursor of the previous page' });
  });
});
