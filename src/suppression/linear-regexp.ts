import v8 from 'node:v8';

/**
 * The administrator's REGEXP suppression patterns, compiled for V8's linear-time engine (the `l` flag). They run
 * against every recipient of every send, and a backtracking one can take minutes on one address: `(a|a)*!`, or
 * STRPOS-like `a.*a.*a.*a.*a.*a.*a.*!` against sixty letters (measured: 403 s), stalling the whole process. The
 * linear engine runs them in time proportional to the address; it cannot run backreferences or lookaround and
 * throws a SyntaxError for them, so such a pattern is refused when set.
 *
 * The V8 flag only makes the `l` flag valid: no other RegExp changes engine. It is process-wide by nature, so it
 * is set on each call (idempotent, and patterns are compiled once per cache refresh). Not re2: a native build from
 * source on every install, for the same guarantee.
 */
export function linearRegExp(pattern: string): RegExp {
  v8.setFlagsFromString('--enable-experimental-regexp-engine');
  // eslint-disable-next-line no-invalid-regexp -- `l` is valid once the flag above is set
  return new RegExp(pattern, 'l');
}
