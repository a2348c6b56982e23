// readInto for drivers whose reads are response bodies (HTTP): each piece is copied into the caller's
// buffer as it arrives and dropped at once, so a pull holds one pooled buffer per chunk in flight instead
// of the list of received pieces until the chunk is written.

import type { Readable } from 'node:stream';

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
