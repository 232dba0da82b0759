import type { Logger } from 'winston';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from './harness';
import { waitFor } from './sink';

/**
 * A gateway read from `settings` (a delivery setting is read at start, so each setting under test is a gateway of
 * its own), its delivery worker and a sender: for tests that send one message and look at how it was handed over.
 */
export interface DeliveryGateway {
  h: Harness;
  worker: DeliveryWorker;
  s: Awaited<ReturnType<typeof senderSetup>>;
}

export async function startDeliveryGateway(settings: Record<string, string>, opts: { logger?: Logger } = {}): Promise<DeliveryGateway> {
  const h = await startHarness({ RETRY_SCHEDULE_SECONDS: '3600', ...settings }, { logger: opts.logger });
  return { h, worker: createDeliveryWorker(h.services), s: await senderSetup(h) };
}

export async function stopDeliveryGateways(gateways: DeliveryGateway[]): Promise<void> {
  for (const g of gateways) {
    await g.h.services.queues.close();
    await g.worker.stop();
    await g.h.close();
  }
}

/** Sends one plain message through POST /api/v1/email and answers its MessageID. */
export async function sendOne(g: DeliveryGateway, to: string, subject: string): Promise<string> {
  const res = await g.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${g.s.key}` },
    body: { Subject: subject, ContentType: 'plain', PlainContent: 'Hello.', From: { name: '', email: `app@${g.s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

/** The message's delivery row once it was tried at least once. */
export async function firstAttempt(g: DeliveryGateway, messageId: string) {
  const row = () => g.h.services.db('deliveries').where({ message_id: messageId }).first();
  await waitFor(async () => Number((await row())?.attempts) >= 1, 15_000, 'an attempt');
  return row();
}
