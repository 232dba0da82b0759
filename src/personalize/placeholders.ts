import escapeHtml from 'escape-html';
import type { RenderMode } from './render';

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
const LEFT_TO_WORKER = new Set(['MFROMDomain']);

export type Pairs = Record<string, string | number | boolean | null>;

export function fillPlaceholders(input: string, pairs: Pairs, mode: RenderMode): string {
  if (!input || !input.includes('{{')) return input;
  const resolve = (whole: string, name: string, fallback: string | undefined, raw: boolean): string => {
    const has = Object.prototype.hasOwnProperty.call(pairs, name);
    if (!has && LEFT_TO_WORKER.has(name)) return whole;
    const v = has && pairs[name] !== null && pairs[name] !== '' ? String(pairs[name]) : (fallback ?? '').replace(/\\(.)/g, '$1');
    if (mode === 'header') return v.replace(/[\r\n]+/g, ' ');
    return mode === 'html' && !raw ? escapeHtml(v) : v;
  };
  return input
    .replace(TRIPLE, (m, name, fallback) => resolve(m, name, fallback, true))
    .replace(DOUBLE, (m, name, fallback) => resolve(m, name, fallback, false));
}
