import { pipeline, Readable } from 'node:stream';
import type { Response } from 'express';

/**
 * A command result that is a download, not an envelope (exportevents' CSV). The command does its checks and
 * counting in `run` (so failures still leave in the JSON envelope), then returns `streamReply(...)`; the door
 * sends the headers and pipes `body` to the client as it is produced.
 */
const STREAM_REPLY = Symbol('postern.streamReply');

export interface StreamReply {
  contentType: string;
  headers: Record<string, string>;
  body: Readable;
}

export function streamReply(reply: StreamReply): Record<string, unknown> {
  return { [STREAM_REPLY]: reply } as unknown as Record<string, unknown>;
}

export function streamOf(result: Record<string, unknown>): StreamReply | undefined {
  return (result as { [STREAM_REPLY]?: StreamReply })[STREAM_REPLY];
}

/** Writes a stream reply with HTTP 200. A failure after the headers went out can only cut the download short. */
export function sendStream(res: Response, reply: StreamReply, onError: (err: Error) => void): void {
  res.status(200);
  res.setHeader('Content-Type', reply.contentType);
  for (const [k, v] of Object.entries(reply.headers)) res.setHeader(k, v);
  pipeline(reply.body, res, (err) => {
    if (err && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') onError(err);
  });
}
