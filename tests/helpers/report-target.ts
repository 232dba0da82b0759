import { verpAddress } from '../../src/delivery/verp';
import { verpSecret } from '../../src/delivery/worker';
import type { Harness, senderSetup } from './harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

/**
 * The bounce-intake tests' message to report on: one plain message through POST /api/v1/email from `sender` to `to`
 * (and any `cc`), and the delivery to `to` (or to `who`) with its message's Message-ID header and the VERP return
 * path a DSN or ARF report about it is sent to.
 */
export async function reportTarget(h: Harness, sender: Sender, to: string, opts: { cc?: string[]; who?: string } = {}) {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${sender.key}` },
    body: {
      Subject: 'Your order',
      ContentType: 'plain',
      PlainContent: 'Thanks',
      From: { name: 'Shop', email: `shop@${sender.domain}` },
      To: [{ name: '', email: to }],
      ...(opts.cc ? { CC: opts.cc.map((email) => ({ name: '', email })) } : {}),
    },
  });
  if (res.status !== 200 || !res.body.MessageID) throw new Error(`send refused: ${res.status} ${JSON.stringify(res.body)}`);
  const messageId = res.body.MessageID as string;
  const d = await h.services
    .db('deliveries')
    .where({ message_id: messageId, recipient: opts.who ?? to })
    .first('id');
  const m = await h.services.db('messages').where({ id: messageId }).first('message_id_header');
  return {
    id: Number(d.id),
    messageId,
    header: m.message_id_header as string,
    verp: verpAddress(verpSecret(h.services), Number(d.id), `sl.${sender.domain}`),
  };
}
