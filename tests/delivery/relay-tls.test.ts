/**
 * SMTP_RELAY_URL's `?starttls=required`: an smtp:// smarthost must start TLS before the password and the message
 * go, or the delivery waits (never bounced). Each relay setting is its own gateway (read at start).
 */
import { relayCredentialsRisk } from '../../src/delivery/tls-policy';
import { DeliveryGateway, firstAttempt, sendOne, startDeliveryGateway, stopDeliveryGateways } from '../helpers/delivery-gateway';
import { Sink, startSink } from '../helpers/sink';

let plain: Sink;
let tls: Sink;
const gateways: DeliveryGateway[] = [];

beforeAll(async () => {
  plain = await startSink();
  tls = await startSink({}, { starttls: true });
});
afterAll(async () => {
  await stopDeliveryGateways(gateways);
  await plain.close();
  await tls.close();
});

/** Sends one message through a gateway relaying to `relayUrl`; answers the gateway and the delivery row once tried. */
async function sendVia(relayUrl: string, to: string) {
  const g = await startDeliveryGateway({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: relayUrl });
  gateways.push(g);
  return { ...g, d: await firstAttempt(g, await sendOne(g, to, 'Via the smarthost')) };
}

it('holds the message back (deferred, not bounced) when the smarthost offers no STARTTLS', async () => {
  const { d } = await sendVia(`smtp://127.0.0.1:${plain.port}?starttls=required`, 'held@dest.test');
  expect(d.status).toBe('deferred');
  expect(d.last_reply).toBe('SMTP_RELAY_URL starttls=required: the smarthost did not start TLS (500 Error: command not recognized); nothing was sent in clear');
  expect(plain.received.filter((m) => m.to.includes('held@dest.test'))).toEqual([]);
});

it('delivers over TLS when the smarthost starts it, and the event says which', async () => {
  const { h, s, d } = await sendVia(`smtp://127.0.0.1:${tls.port}?starttls=required&tls_verify=0`, 'sent@dest.test');
  expect(d.status).toBe('delivered');
  expect(tls.received.filter((m) => m.to.includes('sent@dest.test')).map((m) => m.secure)).toEqual([true]);
  const events = await h.request('GET', `/api/v1/events?MessageID=${d.message_id}&Event=delivered`, { headers: { Authorization: `Bearer ${s.key}` } });
  expect(events.body.Events[0].Data.tls).toMatch(/^TLSv1\.[23]$/);
});

it('warns at start when a password could cross to the smarthost in clear', () => {
  const risk = relayCredentialsRisk('smtp://user:secret@relay.example.net:587');
  expect(risk).toMatch(/^SMTP_RELAY_URL logs in to an smtp:\/\/ smarthost without \?starttls=required/);
  expect(risk).not.toContain('secret');
  for (const safe of [
    'smtp://user:secret@relay.example.net:587?starttls=required',
    'smtps://user:secret@relay.example.net',
    'smtp://relay.example.net:25', // no password to lose
    'smtp://user:secret@127.0.0.1:2525', // this host
  ])
    expect(relayCredentialsRisk(safe)).toBeNull();
});
