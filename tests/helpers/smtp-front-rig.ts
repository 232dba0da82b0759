import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { Harness, senderSetup, startHarness } from './harness';

/** A gateway with its SMTP relay front on loopback and one sender's SMTP credential, for tests that talk to the front. */
export interface FrontRig {
  h: Harness;
  front: SmtpFront;
  /** The sender whose SMTP credential `user` / `pass` are. */
  s: Awaited<ReturnType<typeof senderSetup>>;
  user: string;
  pass: string;
  close(): Promise<void>;
}

/** `env` adds to the harness's settings; `frontOpts` are startSmtpFront's (its `isLocal`, say). */
export async function startFrontRig(env: Record<string, string> = {}, frontOpts: Parameters<typeof startSmtpFront>[1] = {}): Promise<FrontRig> {
  const h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', ...env });
  const front = await startSmtpFront(h.services, frontOpts);
  const s = await senderSetup(h);
  const c = await h.call({ Command: 'emailgateway.addsmtp', SessionID: s.sessionId, DomainID: s.domainId });
  return {
    h,
    front,
    s,
    user: c.SMTP.SMTPUsername,
    pass: c.SMTP.SMTPPassword,
    async close() {
      await front.close();
      await h.close();
    },
  };
}
