// Replayable upload sources (see ByteSource in types.ts).

import fs from 'node:fs';
import { Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';
import type { ByteSource } from './types.js';

export function bufferSource(data: Buffer): ByteSource {
  return { size: data.length, buffer: data, open: () => Readable.from([data]) };
}

/** `length` bytes of a file starting at `offset`; each open() reads them afresh. */
export function fileRangeSource(path: string, offset: number, length: number): ByteSource {
  return {
    size: length,
    file: { path, offset },
    open: () =>
      length === 0
        ? Readable.from([])
        : fs.createReadStream(path, { start: offset, end: offset + length - 1, highWaterMark: 1 << 20 }),
  };
}

/** Reads a whole stream into memory. Only for objects known to be small (manifests, refs, chunks). */
export async function readAll(stream: Readable, limit = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const part of stream) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part as Uint8Array);
    n += b.length;
    if (n > limit) {
      stream.destroy();
      throw new IntegrityError(`object larger than the ${limit} bytes expected`);
    }
    parts.push(b);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}
