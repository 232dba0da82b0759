import type { SendOutcome } from './outcome';

/** The fields of a nodemailer SMTP error that a delivery's outcome is read from. */
export interface SmtpError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

/**
 * A remote server's reply as kept and logged: at most 1,000 characters. nodemailer takes replies of up to 1 MiB, and
 * a recipient's MX (or the relay) chooses them: stored whole they grow rows, and the log's address masking scans them.
 */
export function remoteReply(response: string | undefined): string {
  return String(response ?? '').slice(0, 1000);
}

/** The basic code at the start of a reply text (`250 2.0.0 Ok` → 250). */
export function replyCode(response: string): number | undefined {
  const m = /^([2-5]\d\d)[ -]/.exec(response);
  return m ? Number(m[1]) : undefined;
}

export function outcomeOf(err: unknown): SendOutcome {
  const e = err as SmtpError;
  return { ok: false, code: e.responseCode, response: remoteReply((e.response ?? `${e.code ?? 'ERROR'} ${e.message ?? ''}`).trim()) };
}

/** The reply of a delivery held back because its hop did not start TLS (quoting the hop's answer to STARTTLS). */
export function notStarted(rule: string, hop: string, err: SmtpError): string {
  const said = err.response?.trim();
  return remoteReply(`${rule}: ${hop} did not start TLS${said ? ` (${said})` : ''}; nothing was sent in clear`);
}

/** The reply of a delivery held back because the hop's TLS handshake failed (its certificate refused, say). */
export function handshakeFailed(rule: string, hop: string, err: SmtpError): string {
  return remoteReply(`${rule}: ${hop}'s TLS handshake failed (${err.code ?? 'ERROR'} ${err.message ?? ''}); nothing was sent in clear`);
}

/** The reply of a delivery whose hop answered before TLS where TLS is required: not the host's trusted verdict. */
export function answeredBeforeTls(rule: string, hop: string, err: SmtpError): string {
  return remoteReply(`${rule}: ${hop} answered before TLS (${(err.response ?? '').trim()}), which is not trusted; nothing was sent`);
}
