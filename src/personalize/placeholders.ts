import escapeHtml from 'escape-html';
import { hasTags, RenderMode, tagSpans } from './render';

/**
 * CloudMails-style placeholders: `{{name}}` (HTML-escaped in HTML bodies), `{{{name}}}` (raw) and
 * `{{name|"fallback"}}`, filled from one message's own key-value pairs (its `custom_args`). Names are letters,
 * digits, `_`, `.` and `-`, matched exactly; a name the pairs lack renders its fallback or nothing, never itself.
 * Postern's own tags have a namespace (`{{ Subscriber:X }}`, with a colon) and are left to the worker's renderer,
 * as is `{{ MFROMDomain }}` unless the pairs name it. Hand-written because Mustache and Handlebars know neither
 * the fallback syntax nor "leave this one tag alone".
 */
const NAME = '([A-Za-z0-9_][A-Za-z0-9_.-]{0,99})';
const FALLBACK = '(?:\\s*\\|\\s*"((?:[^"\\\\]|\\\\.)*)")?';
const TRIPLE = new RegExp(`\\{\\{\\{\\s*${NAME}${FALLBACK}\\s*\\}\\}\\}`, 'g');
const DOUBLE = new RegExp(`\\{\\{\\s*${NAME}${FALLBACK}\\s*\\}\\}`, 'g');
/** Both forms, a triple-brace one before a double one at the same place: groups 1-2 triple, 3-4 double. */
const ALL = new RegExp(`${TRIPLE.source}|${DOUBLE.source}`, 'g');
const LEFT_TO_WORKER = new Set(['MFROMDomain']);

export type Pairs = Record<string, string | number | boolean | null>;

/** A custom_args value holding one of Postern's own tags, in a subject or text body, where it cannot be made inert. */
export class TaggedValueError extends Error {
  constructor(
    readonly key: string,
    joined = false,
  ) {
    super(
      joined
        ? `custom_args.${key} forms a personalisation tag ({{ Subscriber:… }}, %…%, {{ Link:… }}) with the text beside it; ` +
            'Postern renders those tags after filling placeholders, so the value cannot be sent as written'
        : `custom_args.${key} holds a personalisation tag ({{ Subscriber:… }}, %…%, {{ Link:… }}) and is used in the subject or text; ` +
            'Postern renders those tags after filling placeholders, so the value cannot be sent as written',
    );
  }
}

/** What a request's placeholders may add up to once filled, in characters; fillPlaceholders spends it. */
export interface FillBudget {
  left: number;
}

/** The filled text would pass its request's budget: values repeated by many placeholders, a memory bomb or a mistake. */
export class FillBudgetError extends Error {}

/**
 * Fills the placeholders of `input` in one pass: a value is inserted as it is and never scanned again. The worker
 * renders Postern's own tags in the result later (src/personalize/render.ts), so a value holding one would be
 * expanded there: in HTML its `{` and `%` are written as character references (the reader sees the same text), and
 * in a subject or text, which have no such escape, TaggedValueError refuses the message instead of rendering it.
 */
export function fillPlaceholders(input: string, pairs: Pairs, mode: RenderMode, budget: FillBudget = { left: Infinity }): string {
  if (!input || !input.includes('{{')) return input;
  const resolve = (whole: string, name: string, fallback: string | undefined, raw: boolean): string => {
    const has = Object.prototype.hasOwnProperty.call(pairs, name);
    if (!has && LEFT_TO_WORKER.has(name)) return whole;
    const v = has && pairs[name] !== null && pairs[name] !== '' ? String(pairs[name]) : (fallback ?? '').replace(/\\(.)/g, '$1');
    if (has && hasTags(v)) {
      if (mode !== 'html') throw new TaggedValueError(name);
      return (raw ? v : escapeHtml(v)).replace(/[{%]/g, (c) => (c === '{' ? '&#123;' : '&#37;'));
    }
    if (mode === 'header') return v.replace(/[\r\n]+/g, ' ');
    return mode === 'html' && !raw ? escapeHtml(v) : v;
  };
  let out = '';
  let from = 0;
  const values: { start: number; end: number; name: string }[] = [];
  for (const m of input.matchAll(ALL)) {
    const [whole, tn, tf, dn, df] = m;
    out += input.slice(from, m.index);
    const v = tn !== undefined ? resolve(whole, tn, tf, true) : resolve(whole, dn, df, false);
    if (v !== whole) values.push({ start: out.length, end: out.length + v.length, name: tn ?? dn });
    out += v;
    from = m.index! + whole.length;
    // Checked as it grows: 10,000 placeholders of a 1,000-character value make 10M characters of a 50 KB input.
    if (out.length > budget.left) throw new FillBudgetError();
  }
  out += input.slice(from);
  if (out.length > budget.left) throw new FillBudgetError();
  budget.left -= out.length;
  // A value may not make a tag with the text or value beside it (`{{pct}}%` with pct = '%Subscriber:EmailAddress'):
  // the worker would render it. A tag wholly inside a value was made inert above; one across a value's edge is refused.
  for (const [start, end] of values.length ? tagSpans(out) : []) {
    const across = values.find((v) => start < v.end && end > v.start && (start < v.start || end > v.end));
    if (across) throw new TaggedValueError(across.name, true);
  }
  return out;
}
