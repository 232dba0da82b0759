/**
 * One JSON log line per delivery attempt (issue 18 item 3): sent through /api/v1/email to a real SMTP sink that
 * accepts, defers once, or refuses; the worker's log lines name message, delivery, recipient domain, outcome,
 * reply, attempt and next retry, and at info level never a full address (not even inside a quoted reply).
 */
import { maskAddresses } from '../../src/delivery/attempt-log';
import { capturingLogger } from '../helpers/log-lines';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';

const { logger, lines } = capturingLogger();

let rig: RelayRig;
const refusedOnce = new Set<string>();

beforeAll(async () => {
  rig = await startRelayRig({}, { logger });
  rig.sink.onRcpt = (address) => {
    if (address.startsWith('gone@')) return smtpError(550, `5.1.1 <${address}>: no such user`);
    if (address.startsWith('later@') && !refusedOnce.has(address)) {
      refusedOnce.add(address);
      return smtpError(451, `4.2.1 <${address}>: try again later`);
    }
    return undefined;
  };
});
afterAll(async () => {
  await rig.close();
});

async function send(to: string[]): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Log me',
      ContentType: 'plain',
      PlainContent: 'hi',
      From: { name: '', email: `app@${rig.s.domain}` },
      To: to.map((email) => ({ name: '', email })),
    },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

const attemptsOf = (messageId: string) =>
  lines
    .map((l) => JSON.parse(l))
    .filter((l) => l.message === 'delivery attempt' && l.messageId === messageId)
    .sort((a, b) => a.deliveryId - b.deliveryId || a.attempt - b.attempt);

describe('delivery attempt log lines', () => {
  it('log each attempt once with its outcome, reply, attempt number and next retry, and no full address', async () => {
    const id = await send(['ok@dest.test', 'later@dest.test', 'gone@dest.test']);
    await waitFor(() => attemptsOf(id).length === 4, 20000, 'four attempts');
    const deliveries = await rig.h.services.db('deliveries').where({ message_id: id }).orderBy('id');
    const byRecipient = Object.fromEntries(deliveries.map((d: { recipient: string; id: number }) => [d.recipient, Number(d.id)]));
    const got = attemptsOf(id);
    for (const l of got) {
      expect(Object.keys(l).sort()).toEqual([
        'attempt',
        'deliveryId',
        'level',
        'message',
        'messageId',
        'nextRetryAt',
        'outcome',
        'recipientDomain',
        'reply',
        'timestamp',
      ]);
      expect(l).toMatchObject({ level: 'info', recipientDomain: 'dest.test' });
    }
    const of = (r: string) => got.filter((l) => l.deliveryId === byRecipient[r]);
    expect(of('ok@dest.test')).toEqual([
      expect.objectContaining({ outcome: 'delivered', attempt: 1, nextRetryAt: null, reply: expect.stringMatching(/^250 /) }),
    ]);
    const [deferred, retried] = of('later@dest.test');
    expect(deferred).toMatchObject({ outcome: 'deferred', attempt: 1, reply: '451 4.2.1 <…@dest.test>: try again later' });
    expect(Date.parse(deferred.nextRetryAt)).toBeGreaterThan(Date.parse(deferred.timestamp));
    expect(retried).toMatchObject({ outcome: 'delivered', attempt: 2, nextRetryAt: null });
    expect(of('gone@dest.test')).toEqual([
      expect.objectContaining({ outcome: 'bounced', attempt: 1, nextRetryAt: null, reply: '550 5.1.1 <…@dest.test>: no such user' }),
    ]);

    expect(lines.join('\n')).not.toMatch(/(ok|later|gone)@dest\.test/);
  });

  it('carry the full recipient at LOG_LEVEL=debug', async () => {
    logger.level = 'debug';
    try {
      const id = await send(['traced@dest.test']);
      await waitFor(() => attemptsOf(id).length === 1, 15000, 'the attempt');
      expect(attemptsOf(id)[0]).toMatchObject({ outcome: 'delivered', recipient: 'traced@dest.test', recipientDomain: 'dest.test' });
    } finally {
      logger.level = 'info';
    }
  });

  it.each([
    ['550 5.1.1 <jane.doe+tag@example.org>: unknown', '550 5.1.1 <…@example.org>: unknown'],
    ['552 mailbox "bob@[192.0.2.1]" full', '552 mailbox "…@[192.0.2.1]" full'],
    ['250 2.0.0 Ok: queued as 4XyZ', '250 2.0.0 Ok: queued as 4XyZ'],
  ])('mask addresses inside a reply: %s', (reply, masked) => {
    expect(maskAddresses(reply)).toBe(masked);
  });
});
