import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, startHarness } from '../helpers/harness';
import { rawSmtp } from '../helpers/smtp-raw';
import { waitFor } from '../helpers/sink';

/**
 * The bounce intake has no AUTH, so smtp-server's cap on unauthenticated commands is off and its idle timeout counts
 * only silence: a client sending NOOP now and then held a connection slot for ever. INBOUND_SESSION_MAX_SECONDS
 * (here INBOUND_SESSION_MAX_MS, 1.5 s) ends every session that old, busy or not.
 */
let h: Harness;
let inbound: InboundListener;

beforeAll(async () => {
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', INBOUND_SESSION_MAX_MS: '1500' });
  inbound = await startInboundSmtp(h.services);
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

describe('bounce intake session lifetime', () => {
  it('closes a session that keeps sending NOOP with 421 4.4.2 once it reaches its lifetime', async () => {
    const c = await rawSmtp(inbound.port);
    try {
      const opened = Date.now();
      c.send('EHLO mx.sender.test\r\n');
      expect(await c.reply()).toMatch(/^250[ -]/);
      const replies: string[] = [];
      // Busy, never silent: a NOOP every 200 ms, for at most 8 s (smtp-server's idle timeout would never fire).
      while (Date.now() - opened < 8000) {
        c.send('NOOP\r\n');
        const r = await c.reply();
        replies.push(r);
        if (!r.startsWith('250')) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(replies.length).toBeGreaterThan(3); // it was served until then
      expect(replies.slice(0, -1).every((r) => r.startsWith('250'))).toBe(true);
      expect(replies[replies.length - 1]).toBe('421 4.4.2 Session open 2 s, the most this host allows; closing connection');
      await waitFor(() => c.socket.destroyed || c.socket.readableEnded, 5000, 'the intake to close the connection');
    } finally {
      c.close();
    }
  });
});
