/**
 * A message as it goes on the wire after DATA: exactly the bytes nodemailer's DataStream
 * (nodemailer/lib/smtp-connection/data-stream) writes for it when the message arrives as one chunk, which is how
 * the worker always has it. DataStream decides byte by byte in JavaScript (1.5-2 % of a delivery worker's busy time,
 * plus a Transform and a pipe per message); here the only places where one of its three rules can apply are found
 * with Buffer.indexOf (native memchr for CR and for LF), and the rules are applied at those places alone:
 * - a CR not followed by LF gets an LF after it (and a dot that follows it is stuffed, as at any line start);
 * - an LF not preceded by CR gets a CR before it;
 * - a dot at the start of the message or after an LF is doubled.
 * Then the end marker as DataStream's flush writes it, chosen by the message's last byte.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const INSERT_LF = Buffer.from('\n');
const INSERT_LF_DOT = Buffer.from('\n.');
const INSERT_CR = Buffer.from('\r');
const INSERT_DOT = Buffer.from('.');
const END_AFTER_LF = Buffer.from('.\r\n');
const END_AFTER_CR = Buffer.from('\n.\r\n');
const END_OTHERWISE = Buffer.from('\r\n.\r\n');

/** What DataStream inserts before position `i` of `raw` (null: nothing); `i` > 0 or the message's first byte. */
function insertAt(raw: Buffer, i: number): Buffer | null {
  const byte = raw[i];
  const prev = i > 0 ? raw[i - 1] : -1;
  if (prev === CR && byte !== LF) return byte === DOT ? INSERT_LF_DOT : INSERT_LF;
  if (byte === LF && prev !== CR) return INSERT_CR;
  if (byte === DOT && (prev === LF || prev === -1)) return INSERT_DOT;
  return null;
}

/**
 * The DATA section for `raw`, end marker included, as buffers to write in order (slices of `raw` where nothing
 * changes: a usual message is `[raw, end marker]`, no copy).
 */
export function smtpDataParts(raw: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let from = 0; // raw[from..] is not in `out` yet
  let last = -1; // the last position looked at, so none is looked at twice
  const visit = (i: number) => {
    if (i <= last || i >= raw.length) return;
    last = i;
    const insert = insertAt(raw, i);
    if (!insert) return;
    if (i > from) out.push(raw.subarray(from, i));
    out.push(insert);
    from = i;
  };
  // Only at these positions can a rule apply: the first byte, an LF, and the byte after a CR or an LF.
  visit(0);
  let cr = raw.indexOf(CR);
  let lf = raw.indexOf(LF);
  while (cr >= 0 || lf >= 0) {
    if (lf >= 0 && (cr < 0 || lf < cr)) {
      visit(lf);
      visit(lf + 1);
      lf = raw.indexOf(LF, lf + 1);
    } else {
      visit(cr + 1);
      cr = raw.indexOf(CR, cr + 1);
    }
  }
  if (from < raw.length) out.push(from === 0 ? raw : raw.subarray(from));
  const lastByte = raw.length ? raw[raw.length - 1] : -1;
  out.push(lastByte === LF ? END_AFTER_LF : lastByte === CR ? END_AFTER_CR : END_OTHERWISE);
  return out;
}
