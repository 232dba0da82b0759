import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Metrics } from './metrics';

type Callback = (err?: Error | null, ...rest: unknown[]) => void;

/** `550 5.7.1` from an smtp-server refusal (responseCode, enhanced code at the start of the text); bounded by the codes the front uses. */
export function replyLabel(err: Error & { responseCode?: number }): string {
  const enhanced = /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(err.message)?.[1];
  return [err.responseCode ?? 'error', enhanced].filter(Boolean).join(' ');
}

/**
 * Counts what the SMTP relay front does without touching its logic: each hook's callback is wrapped, so a
 * refusal is counted by stage and reply, a 535 as an AUTH failure, and every accepted connection as a session.
 */
export function instrumentSmtp(metrics: Metrics, options: SMTPServerOptions): SMTPServerOptions {
  const open = new Set<string>();
  const counted =
    (stage: string, cb: Callback): Callback =>
    (err, ...rest) => {
      if (err) {
        const e = err as Error & { responseCode?: number };
        metrics.smtpRejected(stage, replyLabel(e));
        if (stage === 'auth' && e.responseCode === 535) metrics.smtpAuthFailed();
      }
      cb(err, ...rest);
    };
  const wrap = <K extends 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'>(name: K, stage: string): SMTPServerOptions[K] => {
    const hook = options[name] as ((...args: unknown[]) => void) | undefined;
    if (!hook) return undefined;
    return ((...args: unknown[]) => {
      const cb = args[args.length - 1] as Callback;
      hook(...args.slice(0, -1), counted(stage, cb));
    }) as SMTPServerOptions[K];
  };
  return {
    ...options,
    onConnect(session: SMTPServerSession, cb: Callback) {
      const accept: Callback = (err, ...rest) => {
        if (!err) {
          open.add(session.id);
          metrics.smtpSession(true);
        }
        counted('connect', cb)(err, ...rest);
      };
      if (options.onConnect) options.onConnect(session, accept);
      else accept();
    },
    onClose(session: SMTPServerSession, cb: (err?: Error | null) => void) {
      if (session && open.delete(session.id)) metrics.smtpSession(false);
      if (options.onClose) options.onClose(session, cb);
      else cb();
    },
    onAuth: wrap('onAuth', 'auth'),
    onMailFrom: wrap('onMailFrom', 'mail'),
    onRcptTo: wrap('onRcptTo', 'rcpt'),
    onData: wrap('onData', 'data'),
  };
}
