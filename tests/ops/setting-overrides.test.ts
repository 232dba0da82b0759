/**
 * Settings whose defaults the rest of the suite goes through, here set to something else and followed to their
 * effect: the DMARC record a new domain is told to publish (DMARC_RECORD) and the scheme of tracking links
 * (TRACKING_SCHEME).
 */
import { simpleParser } from 'mailparser';
import { uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

const DMARC = 'v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example';
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig({ DMARC_RECORD: DMARC, TRACKING_SCHEME: 'http' });
});
afterAll(() => rig.close());

it('DMARC_RECORD is the record a new domain is asked to publish at _dmarc', async () => {
  const name = uniqueDomain();
  const r = await rig.h.call({ Command: 'emailgateway.adddomain', SessionID: rig.s.sessionId, DomainName: name });
  expect(r.Success).toBe(true);
  expect(r.Domain.VerificationMeta.DNSRecords[`_dmarc.${name}`]).toEqual(['TXT', DMARC]);
});

it("TRACKING_SCHEME=http makes tracked links and the open pixel http:// on the domain's tracking host", async () => {
  const to = `reader.${Date.now()}@recipient.test`;
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'Scheme',
      ContentType: 'html',
      HTMLContent: '<p><a href="https://shop.example/item">Buy</a></p>',
      TrackOpens: 'true',
      TrackLinks: 'true',
      From: { email: `shop@${rig.s.domain}` },
      To: [{ email: to }],
    },
  });
  expect(res.status).toBe(200);
  await waitFor(() => rig.sink.received.some((r) => r.to[0] === to), 15000, 'the delivery');
  const mail = await simpleParser(rig.sink.received.find((r) => r.to[0] === to)!.raw);
  const tracked = [...String(mail.html).matchAll(/(?:href|src)="([^"]*\/t\/[co]\/[^"]*)"/g)].map((m) => new URL(m[1]));
  expect(tracked.map((u) => u.pathname.slice(0, 5)).sort()).toEqual(['/t/c/', '/t/o/']);
  for (const u of tracked) {
    expect(u.protocol).toBe('http:');
    expect(u.hostname.endsWith(`.${rig.s.domain}`)).toBe(true);
  }
});
