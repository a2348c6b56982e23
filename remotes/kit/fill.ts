// readInto for drivers whose reads are response bodies (HTTP): each piece is copied into the caller's
// buffer as it arrives and dropped at once, so a pull holds one pooled buffer per chunk in flight instead
// of the list of received pieces until the chunk is written. fillFrom reads a body stream; dispatchInto
// (WebDAV, S3) skips the stream: measured faster for WebDAV (150 vs 119 MB/s).

import type { Readable } from 'node:stream';
import type { Dispatcher } from './undici.js';

/**
 * Copies a body into `into` until the body ends or `into` is full, and returns the bytes copied. A body
 * longer than `into` is destroyed once it is full (returning into.length), never read to its end.
 */
export async function fillFrom(body: Readable, into: Buffer): Promise<number> {
  let n = 0;
  for await (const piece of body as AsyncIterable<Uint8Array>) {
    const room = into.length - n;
    if (piece.length > room) {
      into.set(piece.subarray(0, room), n);
      return into.length; // leaving the loop destroys the body
    }
    into.set(piece, n);
    n += piece.length;
  }
  return n;
}

/**
 * The start of an answer's body as text, at most `limit` bytes (an error document, for its code and
 * message); the rest is not read: leaving the loop destroys the body. A body cut off midway still gives
 * what arrived.
 */
export async function bodyStart(body: Readable, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const piece of body as AsyncIterable<Buffer>) {
      parts.push(piece);
      n += piece.length;
      if (n >= limit) break;
    }
  } catch {
    // a body cut off midway still has a status worth reporting
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

export interface DispatchedFill {
  status: number;
  /** Bytes copied into the buffer (a 200 answer's body). */
  bytes: number;
  retryAfter?: string;
  /** Headers of an answer other than 200, names in lower case (S3 says where a bucket lives in one). */
  headers?: Record<string, string>;
  /** The start of a non-200 answer's body, up to the limit asked for (for an error's code and message). */
  errorBody: string;
}

/**
 * A GET through undici's dispatch API that copies a 200 answer's body pieces into `into` as they arrive,
 * with no body stream in between, and drops the connection once `into` is full rather than read the
 * rest. Any other status resolves with the start of its body for the caller to map; a transport failure
 * rejects with undici's error.
 */
export function dispatchInto(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, into: Buffer, errorBodyLimit = 0): Promise<DispatchedFill> {
  return new Promise<DispatchedFill>((resolve, reject) => {
    let n = 0;
    let status = 0;
    let retryAfter: string | undefined;
    let headers: Record<string, string> | undefined;
    let full = false;
    const errorBody: Buffer[] = [];
    let errorBytes = 0;
    let abort: (e?: Error) => void = () => {};
    const done = () => resolve({ status, bytes: n, retryAfter, headers, errorBody: Buffer.concat(errorBody).toString('utf8') });
    const handler = {
      onConnect: (a: (e?: Error) => void) => void (abort = a),
      onHeaders: (code: number, raw: Buffer[]) => {
        status = code;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const name = raw[i]!.toString().toLowerCase();
          if (name === 'retry-after') retryAfter = raw[i + 1]!.toString();
          if (code !== 200) (headers ??= {})[name] = raw[i + 1]!.toString();
        }
        return true;
      },
      onData: (piece: Buffer) => {
        if (status !== 200) {
          if (errorBytes < errorBodyLimit) errorBody.push(Buffer.from(piece.subarray(0, errorBodyLimit - errorBytes)));
          errorBytes += piece.length;
          return true;
        }
        const room = into.length - n;
        if (piece.length > room) {
          into.set(piece.subarray(0, room), n);
          n = into.length;
          full = true;
          abort(new Error('buffer full'));
          return false;
        }
        into.set(piece, n);
        n += piece.length;
        return true;
      },
      onComplete: done,
      onError: (e: Error) => (full ? done() : reject(e)),
    };
    try {
      dispatcher.dispatch(opts, handler as unknown as Dispatcher.DispatchHandler);
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * The bytes [offset, offset + length) of a whole body, for a server that ignored a Range header and
 * answered 200 with everything: the rest is not read (the body is destroyed once the range is out).
 */
export async function* rangeOf(body: AsyncIterable<Uint8Array>, offset: number, length: number): AsyncGenerator<Buffer> {
  let pos = 0;
  const end = offset + length;
  for await (const part of body) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part);
    const from = Math.max(offset - pos, 0);
    const to = Math.min(end - pos, b.length);
    if (to > from) yield b.subarray(from, to);
    pos += b.length;
    if (pos >= end) {
      (body as unknown as Readable).destroy?.();
      return;
    }
  }
}
