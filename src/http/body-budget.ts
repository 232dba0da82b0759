/**
 * The body bytes one process's HTTP doors hold at once (MAX_BODY_BYTES_IN_FLIGHT). Every door reads a whole body
 * (up to MAX_REQUEST_BYTES, 30 MiB) before it knows who sent it: with no bound across requests, a few hundred slow
 * uploads of large bodies held gigabytes. A body is reserved at its declared length (MAX_REQUEST_BYTES when chunked)
 * when its request arrives and given back when its response ends; one that does not fit is answered 503 at once,
 * before a byte of it is read. One body alone always fits, whatever the limit.
 */
export class BodyBudget {
  private inUse = 0;

  constructor(readonly limit: number) {}

  /** Reserves `bytes`; false when they do not fit beside what is held. */
  take(bytes: number): boolean {
    if (this.inUse > 0 && this.inUse + bytes > this.limit) return false;
    this.inUse += bytes;
    return true;
  }

  give(bytes: number): void {
    this.inUse = Math.max(0, this.inUse - bytes);
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.inUse;
  }
}
