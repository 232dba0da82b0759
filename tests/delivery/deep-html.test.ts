/**
 * An HTML body nested past MAX_HTML_DEPTH fails its deliveries with the reason, parsed once for all its recipients.
 * parse5's time grows with depth × tokens (30,000 nested <div>s: 7.7 s of the worker's event loop), a body past ~4,500
 * overflowed the prepared walk's stack, and a failure was parsed again for each of the message's deliveries.
 */
import * as prepared from '../../src/tracking/prepared-html';
import { MAX_HTML_DEPTH, MAX_HTML_WORK } from '../../src/tracking/rewrite';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  // One delivery at a time: the message's deliveries do not share one preparation in flight.
  rig = await startRelayRig({ DELIVERY_CONCURRENCY: '1' });
});
afterAll(async () => {
  await rig.close();
});

const nested = (depth: number, tag: string) =>
  `<html><body>${'<div>'.repeat(depth)}<a href="https://shop.test/${tag}">go</a>${'</div>'.repeat(depth)}</body></html>`;

async function send(html: string, to: string[]): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'deep',
      ContentType: 'html',
      HTMLContent: html,
      TrackLinks: true,
      From: { name: '', email: `app@${rig.s.domain}` },
      To: to.map((email) => ({ name: '', email })),
    },
  });
  expect(res.body.MessageID).toEqual(expect.any(String));
  return res.body.MessageID;
}

const settled = async (id: string) => {
  const db = rig.h.services.db;
  await waitFor(
    async () => (await db('deliveries').where({ message_id: id }).whereIn('status', ['delivered', 'failed']).select('id')).length === 3,
    20000,
    'every delivery settled',
  );
  return db('deliveries').where({ message_id: id }).select('status', 'last_reply');
};

test('a body nested past the limit fails each delivery with the reason, parsed once', async () => {
  const spy = jest.spyOn(prepared, 'prepareHtml');
  try {
    const id = await send(nested(30_000, 'too-deep'), ['a@dest.test', 'b@dest.test', 'c@dest.test']);
    const rows = await settled(id);
    expect(rows).toEqual(
      Array.from({ length: 3 }, () => ({
        status: 'failed',
        last_reply: `message cannot be composed: its HTML nests elements more than ${MAX_HTML_DEPTH} deep`,
      })),
    );
    expect(spy.mock.calls.filter(([html]) => html.includes('too-deep'))).toHaveLength(1);
  } finally {
    spy.mockRestore();
  }
  expect(rig.sink.received.filter((m) => ['a@dest.test', 'b@dest.test', 'c@dest.test'].some((t) => m.to.includes(t)))).toHaveLength(0);
});

test('nested <template>s count as nesting, and a wide body nested deep runs out of its work budget', async () => {
  const templates = `<html><body>${'<template>'.repeat(5_000)}<a href="https://shop.test/t">go</a></body></html>`;
  // 1.2 million elements 505 deep: within the depth limit, 15 s of parse5 before the budget.
  const wide = `<html><body>${'<div>'.repeat(505)}<a href="https://shop.test/w">go</a>${'<li>'.repeat(1_200_000)}</body></html>`;
  const ids = [await send(templates, ['g@dest.test', 'h@dest.test', 'i@dest.test']), await send(wide, ['j@dest.test', 'k@dest.test', 'l@dest.test'])];
  const [t, w] = await Promise.all(ids.map(settled));
  expect(t[0]).toEqual({ status: 'failed', last_reply: `message cannot be composed: its HTML nests elements more than ${MAX_HTML_DEPTH} deep` });
  expect(w[0]).toEqual({
    status: 'failed',
    last_reply: `message cannot be composed: its HTML has too many elements nested too deep (past ${MAX_HTML_WORK.toLocaleString('en-US')} element levels)`,
  });
});

test('a body within the limit is delivered, its link tracked', async () => {
  const id = await send(nested(MAX_HTML_DEPTH - 20, 'deep-enough'), ['d@dest.test', 'e@dest.test', 'f@dest.test']);
  expect((await settled(id)).map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered']);
  expect(rig.sink.received.filter((m) => m.to.includes('d@dest.test'))).toHaveLength(1);
  expect(await rig.h.services.db('tracked_links').where({ message_id: id }).pluck('url')).toEqual(['https://shop.test/deep-enough']);
});

test('a body with 150,000 personalisation tags in one text is delivered, each filled', async () => {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'many tags',
      ContentType: 'html',
      HTMLContent: `<html><body><p>${'%Subscriber:EmailAddress% '.repeat(150_000)}</p></body></html>`,
      TrackLinks: true,
      From: { name: '', email: `app@${rig.s.domain}` },
      To: [{ name: '', email: 'tags@dest.test' }],
    },
  });
  const id = res.body.MessageID;
  expect(id).toEqual(expect.any(String));
  const db = rig.h.services.db;
  // Polled for its id only: `select *` read the row's 4 MB MIME every 25 ms, and under load one such read outlasted
  // the 3 s query timeout (CI, 2026-12-04).
  await waitFor(async () => !!(await db('deliveries').where({ message_id: id }).whereIn('status', ['delivered', 'failed']).first('id')), 20000, 'an outcome');
  expect(await db('deliveries').where({ message_id: id }).first('status')).toEqual({ status: 'delivered' });
  const copy = rig.sink.received.find((m) => m.to.includes('tags@dest.test'))!;
  const { simpleParser } = await import('mailparser');
  const html = String((await simpleParser(copy.raw)).html);
  expect(html.split('tags@dest.test').length - 1).toBe(150_000);
});
