/**
 * What the platform's listings show, through HTTP with an account key: `GET /api/v1/emails?status=` lists exactly the
 * emails it shows with that status (the message's status over all its recipients, not any one recipient's), while
 * Octeth's door keeps its any-recipient Status filter; `GET /api/v1/domains` lists the verified domains (the spec:
 * "List verified domains"); an email's events say `sent` once, however many recipients it has.
 */
import supertest from 'supertest';
import { accountKey, addDomain, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function platformUser() {
  const s = await senderSetup(h);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, Plan: 'Enterprise' });
  return { ...s, account: await accountKey(h, s.sessionId) };
}

const get = async (key: string, path: string) => {
  const r = await supertest(h.app).get(path).set('Authorization', `Bearer ${key}`);
  return { status: r.status, body: r.body };
};

const DELIVERY_STATUSES = ['queued', 'scheduled', 'sending', 'deferred', 'held', 'delivered', 'bounced', 'failed', 'cancelled'];

describe('GET /api/v1/emails?status=', () => {
  it('lists exactly the emails it shows with that status, for every mix of two recipients', async () => {
    const s = await platformUser();
    // Every ordered pair of recipient statuses (the order matters where the first recipient decides), and each alone.
    const mixes = [...DELIVERY_STATUSES.flatMap((a) => DELIVERY_STATUSES.map((b) => [a, b])), ...DELIVERY_STATUSES.map((a) => [a])];
    const emails = mixes.map((m, i) => ({ to: m.map((_, j) => `r${i}-${j}@example.com`), from: `you@${s.domain}`, subject: m.join('+'), text: 'x' }));
    const sent = await supertest(h.app).post('/api/v1/emails/batch').set('Authorization', `Bearer ${s.account}`).send({ emails });
    expect(sent.body).toMatchObject({ total: mixes.length, sent: mixes.length });
    const ids: string[] = sent.body.results.map((r: { id: string }) => r.id);
    // A batch this size is accepted as one row and expanded by the first read (docs/sending.md).
    expect((await get(s.account, '/api/v1/emails?limit=1')).body.total).toBe(mixes.length);
    for (const [i, id] of ids.entries()) {
      const rows = await h.services.db('deliveries').where({ message_id: id }).orderBy('id').select('id');
      for (const [j, row] of rows.entries()) await h.services.db('deliveries').where({ id: row.id }).update({ status: mixes[i][j] });
    }

    const all = await get(s.account, '/api/v1/emails?limit=100');
    expect(all.body.total).toBe(mixes.length);
    const shown = new Map<string, string>(all.body.emails.map((e: { id: string; status: string }) => [e.id, e.status]));
    const words = [...new Set(shown.values())];
    expect(words.sort()).toEqual(['bounced', 'cancelled', 'delivered', 'failed', 'scheduled', 'sent']);
    for (const [word, means] of [...words.map((w) => [w, w]), ['queued', 'sent']]) {
      const listed = await get(s.account, `/api/v1/emails?limit=100&status=${word}`);
      const want = [...shown].filter(([, st]) => st === means).map(([id]) => id);
      expect({ word, status: listed.status, total: listed.body.total }).toEqual({ word, status: 200, total: want.length });
      expect({ word, ids: listed.body.emails.map((e: { id: string }) => e.id).sort() }).toEqual({ word, ids: want.sort() });
      for (const e of listed.body.emails) expect({ word, status: e.status }).toEqual({ word, status: means });
    }
    // Paged, the filter keeps its total and its pages.
    const page2 = await get(s.account, '/api/v1/emails?limit=5&page=2&status=sent');
    const pending = [...shown.values()].filter((st) => st === 'sent').length;
    expect(page2.body).toMatchObject({ total: pending, page: 2, pages: Math.ceil(pending / 5) });
    expect(page2.body.emails).toHaveLength(5);

    // Octeth's door, the same command: its Status still matches any recipient, and shows Postern's own word.
    const partly = ids[mixes.findIndex((m) => m.join() === 'delivered,bounced')];
    expect(shown.get(partly)).toBe('delivered');
    const octeth = await supertest(h.app).get('/api/v1/emails?Status=bounced&Limit=100').set('Authorization', `Bearer ${s.key}`);
    expect(octeth.body.Emails.find((e: { MessageID: string }) => e.MessageID === partly)).toMatchObject({ Status: 'partially_delivered' });
    expect(octeth.body.Total).toBe(mixes.filter((m) => m.includes('bounced')).length);
    // Its MessageStatus (what the platform's status reads) lists by the message's own Status, each of them alone.
    const octethGet = async (q: string) => (await supertest(h.app).get(`/api/v1/emails?Limit=100${q}`).set('Authorization', `Bearer ${s.key}`)).body;
    const own = new Map<string, string>((await octethGet('')).Emails.map((e: { MessageID: string; Status: string }) => [e.MessageID, e.Status]));
    const statuses = [...new Set(own.values())].sort();
    expect(statuses).toEqual(['bounced', 'cancelled', 'deferred', 'delivered', 'failed', 'held', 'partially_delivered', 'queued', 'scheduled', 'sending']);
    for (const st of statuses) {
      const listed = await octethGet(`&MessageStatus=${st}`);
      const want = [...own].filter(([, x]) => x === st).map(([id]) => id);
      expect({ st, total: listed.Total, ids: listed.Emails.map((e: { MessageID: string }) => e.MessageID).sort() }).toEqual({
        st,
        total: want.length,
        ids: want.sort(),
      });
    }
  });
});

describe('GET /api/v1/domains', () => {
  it('lists the verified domains only', async () => {
    const s = await platformUser();
    const pending = await addDomain(h, s.sessionId, `pending.${s.domain}`);
    const disabled = await addDomain(h, s.sessionId, `off.${s.domain}`);
    const suspended = await addDomain(h, s.sessionId, `held.${s.domain}`);
    const second = await addDomain(h, s.sessionId, `second.${s.domain}`);
    await h.services.db('sender_domains').where({ id: disabled }).update({ status: 'Disabled' });
    await h.services.db('sender_domains').where({ id: suspended }).update({ status: 'Suspended' });
    await h.services.db('sender_domains').where({ id: second }).update({ status: 'Enabled' });
    expect(await get(s.account, '/api/v1/domains')).toEqual({
      status: 200,
      body: {
        domains: [
          { id: String(s.domainId), domain: s.domain, status: 'verified' },
          { id: String(second), domain: `second.${s.domain}`, status: 'verified' },
        ],
      },
    });
    // The others are still the account's: verifying one answers its state.
    const v = await supertest(h.app).post(`/api/v1/domains/${pending}/verify`).set('Authorization', `Bearer ${s.account}`);
    expect(v.body).toEqual({ status: 'pending', domain: `pending.${s.domain}` });
  });
});

describe('GET /api/v1/emails/:id', () => {
  it('lists sent (or scheduled) once for an email to several recipients', async () => {
    const s = await platformUser();
    const send = { to: ['a@example.com', 'b@example.com'], cc: 'c@example.com', bcc: 'd@example.com', from: `you@${s.domain}`, subject: 'Four', text: 'x' };
    const r = await supertest(h.app).post('/api/v1/emails').set('Authorization', `Bearer ${s.account}`).send(send);
    expect(r.status).toBe(200);
    const detail = await get(s.account, `/api/v1/emails/${r.body.id}`);
    expect(detail.body.events).toEqual([{ type: 'sent', createdAt: expect.any(String) }]);
    expect(Math.abs(Date.parse(detail.body.events[0].createdAt) - Date.parse(detail.body.email.createdAt))).toBeLessThan(2000);
    // Scheduled through Octeth's door for later, read here: scheduled once too.
    const later = await supertest(h.app)
      .post('/api/v1/email')
      .set('Authorization', `Bearer ${s.key}`)
      .send({
        Subject: 'Later',
        ContentType: 'plain',
        PlainContent: 'x',
        From: { name: '', email: `you@${s.domain}` },
        To: [
          { name: '', email: 'a@example.com' },
          { name: '', email: 'b@example.com' },
        ],
        SendAt: Math.floor(Date.now() / 1000) + 3600,
      });
    const scheduled = await get(s.account, `/api/v1/emails/${later.body.MessageID}`);
    expect(scheduled.body).toMatchObject({ email: { status: 'scheduled' }, events: [{ type: 'scheduled', createdAt: expect.any(String) }] });
    expect(scheduled.body.events).toHaveLength(1);
  });
});
