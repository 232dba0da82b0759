/**
 * A batch's TemplateID is read once per request and its strings shared by every message naming it (a copy of the
 * row per message made ~100 bytes of request into up to 10 MB of heap each); and a batch whose messages would store
 * more template content than LIST_PAGE_BYTES is refused whole with code 48, before anything is prepared or written.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';

const LIMIT = 4 << 20;
/** 20 KB of HTML and 20 KB of text: about 80 KB stored per message (storedSizeOf counts text twice). */
const HTML = `<p>${'h'.repeat(20_000)}</p>`;
const TEXT = 't'.repeat(20_000);
const PER_MESSAGE = 2 * (Buffer.byteLength(HTML) + Buffer.byteLength(TEXT) + Buffer.byteLength('Template subject'));

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let templateId: number;
beforeAll(async () => {
  h = await startHarness({ LIST_PAGE_BYTES: String(LIMIT) });
  s = await senderSetup(h);
  const t = await h.call({
    Command: 'email.template.create',
    SessionID: s.sessionId,
    TemplateName: 'big',
    TemplateSubject: 'Template subject',
    TemplateHTMLContent: HTML,
    TemplatePlainContent: TEXT,
  });
  expect(t.Success).toBe(true);
  templateId = t.TemplateID;
});
afterAll(async () => {
  await h.close();
});

const message = (i: number) => ({ From: { email: `app@${s.domain}` }, To: [{ email: `r${i}@dest.test` }], TemplateID: templateId });

/** Sends a batch, counting the statements that read the templates table while it runs. */
async function batch(messages: unknown[]) {
  let reads = 0;
  const onQuery = (q: { sql: string }) => {
    if (/from [`"]templates[`"]/i.test(q.sql)) reads++;
  };
  h.services.db.on('query', onQuery);
  try {
    const res = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
    return { res, reads };
  } finally {
    h.services.db.off('query', onQuery);
  }
}

/** Messages written, as rows or inside a pending batch row (a big submission is one row until expanded). */
async function stored(): Promise<number> {
  const [rows] = await h.services.db('messages').where({ user_id: s.userId }).count({ n: '*' });
  const [pending] = await h.services.db('pending_batches').where({ user_id: s.userId }).sum({ n: 'messages' });
  return Number(rows.n) + Number(pending.n ?? 0);
}

test('a batch of messages sharing one template reads it once and accepts every message', async () => {
  const n = Math.floor(LIMIT / PER_MESSAGE); // as many as the bound takes
  const { res, reads } = await batch([...Array(n).keys()].map(message));
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ Total: n, Accepted: n, Rejected: 0 });
  expect(reads).toBe(1);
  expect(await stored()).toBe(n);
});

test('a batch whose messages would store more template content than LIST_PAGE_BYTES is refused whole with 48', async () => {
  const before = await stored();
  const n = Math.floor(LIMIT / PER_MESSAGE) + 1;
  // Messages carrying their own bodies take nothing from the template: they do not count against the bound.
  const own = { ...message(999), Subject: 'own', HTMLContent: '<p>own</p>', PlainContent: 'own' };
  const { res, reads } = await batch([own, ...[...Array(n).keys()].map(message)]);
  expect(res.status).toBe(200); // a business error, as the contract answers 45
  expect(res.body.Errors).toEqual([
    {
      Code: 48,
      Message: expect.stringMatching(
        new RegExp(
          `^The batch's ${n} messages with a TemplateID count as \\d+ bytes of template content \\(its text twice, as stored\\); a batch may hold at most ${LIMIT} \\(LIST_PAGE_BYTES\\): send about ${n - 1} such messages per batch`,
        ),
      ),
    },
  ]);
  expect(reads).toBe(1);
  expect(await stored()).toBe(before);
});
