/**
 * CloudMails batch placeholders (src/personalize/placeholders.ts): `{{name}}` from a message's custom_args, escaped
 * in HTML, raw in triple braces, with fallbacks; Postern's own namespaced tags are left for the worker's renderer.
 */
import { fillPlaceholders } from '../../src/personalize/placeholders';

describe('fillPlaceholders', () => {
  const pairs = { name: 'Ada <b>', order_id: 42, vip: true, empty: '', none: null };

  it('fills names from the pairs, HTML-escaped in HTML and raw in text', () => {
    expect(fillPlaceholders('<p>Hi {{name}}, #{{ order_id }} {{vip}}</p>', pairs, 'html')).toBe('<p>Hi Ada &lt;b&gt;, #42 true</p>');
    expect(fillPlaceholders('Hi {{name}}, #{{order_id}}', pairs, 'text')).toBe('Hi Ada <b>, #42');
    expect(fillPlaceholders('<p>{{{name}}}</p>', pairs, 'html')).toBe('<p>Ada <b></p>');
  });

  it('renders a missing, empty or null value as its fallback or nothing, never as itself', () => {
    expect(fillPlaceholders('Hi {{first}}!', pairs, 'text')).toBe('Hi !');
    expect(fillPlaceholders('Hi {{ first|"there" }}, {{empty|"you"}}, {{none|"\\"q\\""}}', pairs, 'text')).toBe('Hi there, you, "q"');
    expect(fillPlaceholders('{{constructor}}{{__proto__}}{{toString}}', pairs, 'text')).toBe('');
  });

  it('keeps subject lines on one line', () => {
    expect(fillPlaceholders('Hello {{name}}', { name: 'A\r\nBcc: x@evil.test' }, 'header')).toBe('Hello A Bcc: x@evil.test');
  });

  it('refuses a value that forms a tag with what is beside it; a tag wholly inside a value stays inert in HTML', () => {
    expect(() => fillPlaceholders('Save {{pct}}% now', { pct: '%Subscriber:EmailAddress' }, 'text')).toThrow(/custom_args\.pct forms/);
    expect(() => fillPlaceholders('<p>{{{a}}}{{{b}}}</p>', { a: '{{{ Link:Unsub', b: 'scribe }}}' }, 'html')).toThrow(/custom_args\.a forms/);
    expect(fillPlaceholders('<p>{{v}} 100%</p>', { v: '%Subscriber:EmailAddress%' }, 'html')).toBe('<p>&#37;Subscriber:EmailAddress&#37; 100%</p>');
    expect(fillPlaceholders('50{{pct}} off', { pct: '%' }, 'text')).toBe('50% off');
  });

  it('leaves Postern’s own tags and other brace text to the worker', () => {
    const s = '{{ Subscriber:FirstName|"there" }} {{{ Link:Unsubscribe }}} {{ MFROMDomain }} {{ not a tag }} {name}';
    expect(fillPlaceholders(s, pairs, 'html')).toBe(s);
    expect(fillPlaceholders('{{MFROMDomain}}', { MFROMDomain: 'mine' }, 'text')).toBe('mine');
  });
});
