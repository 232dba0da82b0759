/**
 * An account key's batch from two domains is written in one transaction per domain. When the second fails after the
 * first committed (here a trigger refuses its messages, as an outage mid-request would), the answer says which were
 * accepted and gives each of the others its error, so the client sends only those again. A bare 503 made it resend
 * the whole batch, and the first domain's messages went out twice.
 */
import { accountKey, addDomain, backend, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
import { refuseWith } from '../helpers/refusing-trigger';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

test("a batch whose second domain fails answers the first domain's MessageIDs and 100007 for the rest", async () => {
  const own = await senderSetup(h);
  const second = uniqueDomain('send');
  const secondId = await addDomain(h, own.sessionId, second);
  await h.services.db('sender_domains').where({ id: secondId }).update({ status: 'Enabled' });
  const sk = await accountKey(h, own.sessionId);
  const msg = (domain: string, i: number) => ({
    From: { email: `app@${domain}` },
    To: [{ email: `r${i}@dest.test` }],
    Subject: `part ${i}`,
    ContentType: 'plain',
    PlainContent: 'body',
  });
  await refuseWith(h.services.db, 'refuse_second', { table: 'messages', op: 'INSERT', when: `NEW.domain_id = ${secondId}`, fault: 'outage' });
  try {
    const res = await h.request('POST', '/api/v1/email/batch', {
      headers: { Authorization: `Bearer ${sk}` },
      body: { Messages: [msg(own.domain, 0), msg(second, 1), msg(own.domain, 2), msg(second, 3)] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Total: 4, Accepted: 2, Rejected: 2 });
    const [a, b, c, d] = res.body.Results;
    expect(a.MessageID).toEqual(expect.any(String));
    expect(c.MessageID).toEqual(expect.any(String));
    for (const r of [b, d])
      expect(r.Errors).toEqual([{ Code: 100007, Message: expect.stringMatching(/^Not accepted \(.*\); the others were: send this one again$/) }]);
    const written = await h.services.db('messages').where({ user_id: own.userId }).orderBy('subject').pluck('subject');
    expect(written).toEqual(['part 0', 'part 2']);
    // Nothing written at all (the failing domain alone): the request fails whole, as before.
    const alone = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${sk}` }, body: { Messages: [msg(second, 4)] } });
    if (backend() === 'mysql') expect(alone.status).toBe(503);
    else expect(alone.status).toBeGreaterThanOrEqual(500);
    expect(await h.services.db('messages').where({ user_id: own.userId }).count({ n: '*' })).toEqual([{ n: 2 }]);
  } finally {
    await h.services.db.raw('DROP TRIGGER refuse_second');
  }
});
