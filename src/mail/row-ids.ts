import crypto from 'node:crypto';

/** Makes message row ids (the API's and the SMTP front's) that increase within the process (one per Services: buildServices). */
export interface RowIds {
  /** A UUIDv7 for a message accepted at `now` (ms), greater than every id this generator made before. */
  next(now: number): string;
}

/**
 * UUIDv7 ids (RFC 9562: 48 bits of Unix milliseconds, a 12-bit counter, 62 random bits) for message rows, increasing
 * within the process so each accept group's INSERT appends at the right edge of `messages`' primary key (and of the
 * indexes that lead with message_id). Random v4 ids split pages mid-tree (~2.7 KB of InnoDB redo per 1.1 KB row), and so did v7 ids random within
 * their millisecond: InnoDB splits a page at the insert point only for inserts in ascending order, hence the counter
 * (bench/README.md, "where a relayed message's redo goes"). Hand-written: the `uuid` package's v7 orders ids within a
 * millisecond too, but is not a dependency here, and this is a dozen lines over node's randomBytes.
 */
export function createRowIds(): RowIds {
  let ms = 0;
  let seq = 0;
  return {
    next(now) {
      if (now > ms) {
        ms = now;
        seq = 0;
      } else if (++seq > 0xfff) {
        // 4,096 ids in one millisecond, or a clock that stepped back: borrow the next millisecond.
        ms += 1;
        seq = 0;
      }
      const b = crypto.randomBytes(16);
      b.writeUIntBE(ms, 0, 6);
      b.writeUInt16BE(0x7000 | seq, 6);
      b[8] = 0x80 | (b[8] & 0x3f);
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  };
}
