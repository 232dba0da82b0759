import addressparser from 'nodemailer/lib/addressparser';
import { addressesIn, plainAddress } from '../../src/smtp/message-rules';

/**
 * addressesIn answers plain values without addressparser (message-rules.ts, PLAIN_ADDRESS). The From check reads
 * its answer to refuse spoofed senders, so for every value it must give what addressparser gives: checked here on
 * the usual shapes and on many generated values built from the characters that matter to the parser.
 */
function byParser(value: string): string[] {
  const flat = (list: ReturnType<typeof addressparser>): string[] =>
    list.flatMap((a) => ('group' in a && Array.isArray(a.group) ? flat(a.group) : a.address ? [a.address] : []));
  return flat(addressparser(value));
}

it('reads the usual From and To values as addressparser does', () => {
  const values = [
    '<bench@bench.example.com>',
    'bench@bench.example.com',
    'Shop <orders@shop.example>',
    'Shop Team 2 <orders+x=y@shop-1.example>',
    'A.B <a@b.c>',
    'a@b.c <x@y.z>',
    '<a@b.c',
    'a@b@c',
    '<a@b.c> x',
    '<a@[1.2.3.4]>',
    '"Shop" <a@b.c>',
    'Shop (evil@else.example) <a@b.c>',
    'Shop  <a@b.c>',
    ' <a@b.c>',
    '<a@b.c>, <d@e.f>',
    'g: <a@b.c>;',
    '=?utf-8?q?x?= <a@b.c>',
    '<a@b.c>;',
  ];
  for (const v of values) expect({ v, got: addressesIn(v) }).toEqual({ v, got: byParser(v) });
});

it('agrees with addressparser on 200,000 generated values', () => {
  // A small fixed generator (no randomness between runs): pieces that form plain addresses and the characters
  // that make addressparser read a value differently.
  const pieces = [
    'a',
    'B',
    '0',
    '.',
    '@',
    '<',
    '>',
    ' ',
    '  ',
    '"',
    '(',
    ')',
    ',',
    ';',
    ':',
    '\\',
    '[',
    ']',
    '=?',
    '?=',
    '+',
    '-',
    '\t',
    'x@y.z',
    '<p@q.r>',
    'Shop ',
  ];
  let seed = 15;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  let fast = 0;
  for (let i = 0; i < 200_000; i++) {
    const n = 1 + (next() % 8);
    let v = '';
    for (let j = 0; j < n; j++) v += pieces[next() % pieces.length];
    const got = addressesIn(v);
    const want = byParser(v);
    if (got.length !== want.length || got.some((a, k) => a !== want[k]))
      throw new Error(`differs for ${JSON.stringify(v)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    if (plainAddress(v) !== null) fast += 1;
  }
  // The generator does reach the fast path's shapes, not only values it leaves to the parser.
  expect(fast).toBeGreaterThan(2000);
});
