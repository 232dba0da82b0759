import type { senderSetup } from './harness';
import type { RelayRig } from './rig';
import { waitFor } from './sink';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

/**
 * One message at a time through a relay rig's v1 door, and its delivery row: for tests that follow single
 * deliveries through holds, lifts and expiries. `rigOf` reads the rig a file's beforeAll made.
 */
export function rigMail(rigOf: () => RelayRig) {
  const deliveryOf = async (messageId: string) => rigOf().h.services.db('deliveries').where({ message_id: messageId }).first();
  return {
    /** Sends an HTML message from the sender's key to `to` (fields in `extra` override); answers its MessageID. */
    async send(s: Sender, to: string, extra: Record<string, unknown> = {}): Promise<string> {
      const res = await rigOf().h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${s.key}` },
        body: { From: { email: `app@${s.domain}` }, To: [{ email: to }], Subject: 'Hi', ContentType: 'html', HTMLContent: '<p>Hello</p>', ...extra },
      });
      expect(res.body.MessageID).toEqual(expect.any(String));
      return res.body.MessageID as string;
    },
    deliveryOf,
    /** Waits until the message's delivery row satisfies `ok`. */
    until: (messageId: string, ok: (d: Record<string, any>) => boolean, what: string, ms = 15000) =>
      waitFor(async () => ok((await deliveryOf(messageId)) ?? {}), ms, what),
  };
}
