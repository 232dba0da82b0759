import { addDomain, createUser, uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/** sendtestemail through /api.php and the real pipeline to an SMTP sink; dailystats reading what it did. */
let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(async () => {
  await rig.close();
});

const call = (p: Record<string, unknown>) => rig.h.call(p);

describe('emailgateway.sendtestemail', () => {
  it('sends from the domain to the address given, DKIM-signed, and the log shows it delivered', async () => {
    const { s, sink } = rig;
    const r = await call({ Command: 'emailgateway.sendtestemail', SessionID: s.sessionId, DomainID: s.domainId, ToEmail: 'me@inbox.test' });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(r.MessageID).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => sink.received.some((m) => m.to.includes('me@inbox.test')), 15000, 'the test message at the sink');
    const raw = sink.received.find((m) => m.to.includes('me@inbox.test'))!.raw.toString();
    expect(raw).toMatch(new RegExp(`^From: test@${s.domain.replace(/\./g, '\\.')}`, 'm'));
    expect(raw).toMatch(/^Subject: Test message from /m);
    expect(raw).toMatch(/^DKIM-Signature: /m);
    await waitFor(
      async () => (await call({ Command: 'emailgateway.getmessagetimeline', SessionID: s.sessionId, MessageID: r.MessageID })).Status === 'delivered',
      15000,
      'delivered',
    );
    const view = await call({ Command: 'emailgateway.getmessagetimeline', SessionID: s.sessionId, MessageID: r.MessageID });
    expect(view.Recipients[0].Events.map((e: { Event: string }) => e.Event)).toEqual(['queued', 'delivered']);

    const stats = await call({ Command: 'emailgateway.dailystats', SessionID: s.sessionId, DomainID: s.domainId });
    expect(stats).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(stats.Days).toHaveLength(31);
    expect(stats.Days[30]).toMatchObject({ Date: new Date().toISOString().slice(0, 10), Sent: 1, Delivered: 1, Bounced: 0 });
    expect(stats.Days.slice(0, 30).every((d: { Sent: number }) => d.Sent === 0)).toBe(true);
    const all = await call({ Command: 'emailgateway.dailystats', SessionID: s.sessionId, StartDate: '2020-01-01', EndDate: '2099-01-01' });
    expect(all.Days).toHaveLength(366);
    expect(all.EndDate).toBe('2099-01-01 23:59:59');
  });

  it("refuses a domain that is not verified (5, with the reason), another user's domain (2) and a bad address (3)", async () => {
    const { h, s } = rig;
    const pending = await addDomain(h, s.sessionId, uniqueDomain('pending'));
    const notVerified = await call({ Command: 'emailgateway.sendtestemail', SessionID: s.sessionId, DomainID: pending, ToEmail: 'me@inbox.test' });
    expect(notVerified).toMatchObject({ Success: false, ErrorCode: 5 });
    expect(notVerified.ErrorText).toMatch(/not activated.*verify its DNS records/);
    const stranger = await createUser(h);
    expect(await call({ Command: 'emailgateway.sendtestemail', SessionID: stranger.sessionId, DomainID: s.domainId, ToEmail: 'me@inbox.test' })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
    expect(await call({ Command: 'emailgateway.dailystats', SessionID: stranger.sessionId, DomainID: s.domainId })).toMatchObject({
      Success: false,
      ErrorCode: 2,
    });
    expect(
      await call({ Command: 'emailgateway.sendtestemail', SessionID: s.sessionId, DomainID: s.domainId, ToEmail: 'me@inbox.test\r\nBcc: x@evil.test' }),
    ).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(
      await call({
        Command: 'emailgateway.sendtestemail',
        SessionID: s.sessionId,
        DomainID: s.domainId,
        ToEmail: 'me@inbox.test',
        FromEmail: 'ceo@elsewhere.test',
      }),
    ).toMatchObject({ Success: false, ErrorCode: 5 });
    expect(
      await call({
        Command: 'emailgateway.sendtestemail',
        SessionID: s.sessionId,
        DomainID: s.domainId,
        ToEmail: 'me@inbox.test',
        Subject: 'a\r\nBcc: x@evil.test',
      }),
    ).toMatchObject({ Success: false, ErrorCode: 4 });
    expect(await call({ Command: 'emailgateway.sendtestemail', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({
      Success: false,
      ErrorCode: [3],
    });
    expect(await h.services.db('messages').where({ user_id: stranger.userId }).count({ n: '*' })).toEqual([{ n: 0 }]);
  });
});
