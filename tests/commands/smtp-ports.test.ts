/**
 * SMTPPorts in addsmtp/getsmtps lists the ports the relay front really listens on (issue 18 item 4): the front
 * is started from the same config, and every advertised port answers an SMTP greeting.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import selfsigned from 'selfsigned';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { addDomain, createUser, Harness, startHarness } from '../helpers/harness';
import { freePort } from '../helpers/ports';

/** The first line a listener sends: plain TCP, or TLS for the implicit-TLS port. */
function greeting(port: number, implicitTls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = implicitTls ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    socket.setTimeout(5000, () => socket.destroy(new Error(`no greeting on ${port}`)));
    socket.once('data', (d) => {
      resolve(String(d).split('\r\n')[0]);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

async function advertised(h: Harness): Promise<{ added: number[]; listed: number[] }> {
  const u = await createUser(h);
  const domainId = await addDomain(h, u.sessionId, `ports-${Date.now()}.example.com`);
  const added = await h.call({ Command: 'emailgateway.addsmtp', SessionID: u.sessionId, DomainID: domainId });
  const listed = await h.call({ Command: 'emailgateway.getsmtps', SessionID: u.sessionId, DomainID: domainId });
  return { added: added.SMTP.SMTPPorts, listed: listed.SMTPs[0].SMTPPorts };
}

describe('SMTPPorts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-ports-'));
  const open: { h: Harness; front: SmtpFront }[] = [];
  afterAll(async () => {
    for (const { h, front } of open) {
      await front.close();
      await h.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>) {
    const h = await startHarness({ SMTP_HOST: '127.0.0.1', ...env });
    const front = await startSmtpFront(h.services);
    open.push({ h, front });
    return { h, front };
  }

  it('equals the plain, submission and implicit-TLS listeners, each of which greets', async () => {
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'mx.postern.test' }], { keySize: 2048 });
    fs.writeFileSync(path.join(dir, 'key.pem'), pems.private);
    fs.writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
    const [plain, submission, implicit] = [await freePort(), await freePort(), await freePort()];
    const { h, front } = await start({
      SMTP_PORT: String(plain),
      SMTP_SUBMISSION_PORT: String(submission),
      SMTP_TLS_PORT: String(implicit),
      SMTP_TLS_CERT: path.join(dir, 'cert.pem'),
      SMTP_TLS_KEY: path.join(dir, 'key.pem'),
    });
    const { added, listed } = await advertised(h);
    expect(added).toEqual(front.ports);
    expect(listed).toEqual(front.ports);
    expect(added).toEqual([plain, submission, implicit]);
    for (const port of added) expect(await greeting(port, port === implicit)).toMatch(/^220 /);
  });

  it('leaves out SMTP_TLS_PORT when no certificate makes it listen (the old default advertised 587 too)', async () => {
    const plain = await freePort();
    const { h, front } = await start({ SMTP_PORT: String(plain) });
    const { added } = await advertised(h);
    expect(front.ports).toEqual([plain]);
    expect(added).toEqual([plain]);
    expect(await greeting(plain, false)).toMatch(/^220 /);
  });
});
