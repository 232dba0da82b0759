import winston from 'winston';

/** Keys whose values never reach a log line, at any depth. */
const SECRET_KEYS = /pass(word)?|secret|token|apikey|api_key|sessionid|authorization|private|signing/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEYS.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

/** The fields an error's text is logged under: only these can carry a driver's statement. */
const ERROR_KEYS = /^(error|stack|cause|reason|lastError)$/i;
const SQL_START = /^(\s*(?:\w*Error: )?)(select|insert|update|delete|replace|with)\s/i;

/**
 * knex prefixes a driver error with the statement, bindings inlined (`insert into … values ('a@b.example') - ER_…`):
 * recipients, subjects and tokens would reach the log. Keep only the driver's own text after the last ` - `.
 */
export function withoutSql(text: string): string {
  const lineEnd = text.indexOf('\n');
  const first = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const m = SQL_START.exec(first);
  if (!m) return text;
  const cut = first.lastIndexOf(' - ');
  const tail = cut < 0 ? '' : first.slice(cut + 3);
  return `${m[1]}[statement omitted] - ${tail}${lineEnd < 0 ? '' : text.slice(lineEnd)}`;
}

const redactFormat = winston.format((info) => {
  for (const k of Object.keys(info)) {
    const v = (info as Record<string, unknown>)[k];
    if (SECRET_KEYS.test(k)) (info as Record<string, unknown>)[k] = '[redacted]';
    else if (typeof v === 'string' && ERROR_KEYS.test(k)) (info as Record<string, unknown>)[k] = withoutSql(v);
    else (info as Record<string, unknown>)[k] = redact(v);
  }
  return info;
});

export type Logger = winston.Logger;

/** JSON lines on stdout (stderr for the CLI, whose stdout is its answer); `silent` for tests that do not want noise. */
export function createLogger(level: string, silent = false, stream: 'stdout' | 'stderr' = 'stdout'): Logger {
  const stderrLevels = stream === 'stderr' ? Object.keys(winston.config.npm.levels) : [];
  const logger = winston.createLogger({
    level,
    silent,
    format: winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels })],
  });
  skipDisabledLevels(logger);
  return logger;
}

/**
 * winston formats every entry (here: redaction, timestamp and JSON text) before its transports drop the ones below
 * their level, so an api at LOG_LEVEL=warn paid that for the `request` line of every request. Each level method
 * now returns at once while no transport takes its level (asked on every call: `level` and transports may change).
 */
function skipDisabledLevels(logger: Logger): void {
  const methods = logger as unknown as Record<string, (...args: unknown[]) => Logger>;
  for (const name of Object.keys(logger.levels)) {
    const write = methods[name];
    if (typeof write !== 'function') continue;
    methods[name] = function (this: Logger, ...args: unknown[]) {
      // As winston's own methods: a detached call (`const warn = logger.warn`) falls back to this logger.
      const self = this ?? logger;
      return self.isLevelEnabled(name) ? write.apply(self, args) : self;
    };
  }
}
