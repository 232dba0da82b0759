/**
 * A quota refund the store refuses survives the gateway's graceful stop: it is recorded beside the counters at once
 * (so a crash keeps it too) and the next start gives it back; at the stop it is tried once more; one the store takes
 * neither as a refund nor as a record is logged as an error naming the user, the sends and the periods. Before, a
 * refund still waiting in the background when the process stopped was lost and the counter stayed high until its
 * period ended. Each test runs the api role as `postern api` does (src/roles.ts start and stop) on the harness's store.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { Running, start } from '../../src/main';
import { periods } from '../../src/mail/quota';
import { backend, Harness, senderSetup, startHarness } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';
import { refuseWith } from '../helpers/refusing-trigger';
import { waitFor } from '../helpers/sink';

let h: Harness;
const gateways: Running[] = [];
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  for (const g of gateways) await g.stop();
  await h.close();
});

/** The api role on the harness's database (and Redis), its log lines kept in `lines`. */
async function startApi(): Promise<{ gw: Running; lines: string[] }> {
  const { logger, lines } = capturingLogger('info');
  const gw = await start(loadConfig({ ...h.env, HOST: '127.0.0.1', PORT: '0', SHUTDOWN_TIMEOUT_MS: '3000' }, 'api'), { logger });
  gateways.push(gw);
  return { gw, lines };
}

async function stop(gw: Running): Promise<void> {
  await gw.stop();
  gateways.splice(gateways.indexOf(gw), 1);
}

function send(gw: Running, s: { key: string; domain: string }, to: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${(gw.server!.address() as AddressInfo).port}/api/v1/email`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${s.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      Subject: 'quota',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: '', email: `app@${s.domain}` },
      To: [{ name: '', email: to }],
    }),
  });
}

/** Failing as an outage on MariaDB (a statement timeout), an abort on SQLite. */
const refuse = (name: string, table: string, op: 'INSERT' | 'UPDATE', when = '1 = 1') => refuseWith(h.services.db, name, { table, op, when, fault: 'outage' });
const allow = (name: string) => h.services.db.raw(`DROP TRIGGER IF EXISTS ${name}`);
const REFUSALS = ['refuse_messages', 'refuse_refunds', 'refuse_records'];

async function counters(userId: number): Promise<Record<string, number>> {
  const rows = await h.services.db('usage_counters').where({ user_id: userId }).select('period', 'sent');
  return Object.fromEntries(rows.map((r: { period: string; sent: number | string }) => [r.period[0], Number(r.sent)]));
}
// Waiting records (a settled refund's row is kept a day with applied_at set).
const records = (userId: number) => h.services.db('quota_refunds').where({ user_id: userId }).whereNull('applied_at').select('periods', 'sent');

/** One send accepted, then one that fails after its quota was reserved, with the refund refused (and the record, if asked). */
async function failedSend(gw: Running, refuseRecords: boolean) {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 10, LimitEmailSendPerPeriod: 100 });
  expect((await send(gw, s, 'first@dest.test')).status).toBe(200);
  await refuse('refuse_messages', 'messages', 'INSERT');
  await refuse('refuse_refunds', 'usage_counters', 'UPDATE', 'NEW.sent < OLD.sent');
  if (refuseRecords) await refuse('refuse_records', 'quota_refunds', 'INSERT');
  const failed = await send(gw, s, 'lost@dest.test');
  expect(failed.status).not.toBe(200);
  await allow('refuse_messages');
  expect(await counters(s.userId)).toEqual({ d: 2, m: 2 });
  return s;
}

afterEach(async () => {
  for (const name of REFUSALS) await allow(name);
});

test('a refund the store refuses is recorded, kept through a stop, and given back by the next start', async () => {
  const { gw } = await startApi();
  const s = await failedSend(gw, false);
  const { day, month } = periods(Date.now());
  // Recorded as soon as the refund was refused (a crash from here on loses nothing either).
  await waitFor(async () => (await records(s.userId)).length === 1, 10_000, 'the refund to be recorded');
  await stop(gw);
  expect(await records(s.userId)).toEqual([{ periods: `${day},${month}`, sent: 1 }]);
  expect(await counters(s.userId)).toEqual({ d: 2, m: 2 });
  await allow('refuse_refunds');
  const next = await startApi();
  expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
  expect(await records(s.userId)).toEqual([]);
  expect(next.lines.some((l) => /recorded quota refunds given back/.test(l))).toBe(true);
});

test('a graceful stop tries each refund still waiting once more', async () => {
  const { gw } = await startApi();
  const s = await failedSend(gw, true);
  // Past the background's first tries (200, 400, 800 ms apart): its next one would come long after the stop.
  await new Promise((r) => setTimeout(r, 1800));
  // The store back (a give-back writes its refund's row too, so records are let through with it).
  await allow('refuse_refunds');
  await allow('refuse_records');
  await stop(gw);
  expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
  expect(await records(s.userId)).toEqual([]);
});

test('a refund the store takes neither as a refund nor as a record is logged at the stop with what to give back', async () => {
  const { gw, lines } = await startApi();
  const s = await failedSend(gw, true);
  const { day, month } = periods(Date.now());
  await stop(gw);
  expect(await counters(s.userId)).toEqual({ d: 2, m: 2 });
  const lost = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'error' && /quota refund lost at shutdown/.test(l.message));
  expect(lost).toEqual([expect.objectContaining({ user: s.userId, sends: 1, periods: [day, month] })]);
});

// MariaDB: the send's outage answers without waiting for its refund, whose first try (slowed by the trigger) is still
// running when the stop begins. SQLite's refusal is no outage: the answer waits for the refund there.
(backend() === 'mysql' ? test : test.skip)('a stop right after a failed send accounts for the refund whose first try is still running', async () => {
  const { gw } = await startApi();
  const s = await senderSetup(h, { LimitEmailSendPerDay: 10, LimitEmailSendPerPeriod: 100 });
  expect((await send(gw, s, 'first@dest.test')).status).toBe(200);
  await refuse('refuse_messages', 'messages', 'INSERT');
  // The refund's UPDATE takes 1.5 s, then fails as an outage: the answer (503) comes long before.
  await h.services.db.raw(
    "CREATE TRIGGER refuse_refunds BEFORE UPDATE ON usage_counters FOR EACH ROW BEGIN IF NEW.sent < OLD.sent THEN DO SLEEP(1.5); SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1969, MESSAGE_TEXT = 'refused (test)'; END IF; END",
  );
  expect((await send(gw, s, 'lost@dest.test')).status).toBe(503);
  await allow('refuse_messages');
  // Before, the stop found no refund waiting (it was not yet), closed the store under the first try, and its record
  // failed: the reservation was kept with no record and no error line.
  await stop(gw);
  await allow('refuse_refunds');
  expect(await records(s.userId)).toHaveLength(1);
  await startApi();
  expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
});
