// Whole reads and writes on a file handle: a single read or writev may move only part of the bytes (a
// disk filling up, a signal), and a short object or target must never pass for a whole one.

import fs from 'node:fs/promises';

/**
 * writev that writes every byte or throws: a single writev may write only part (a disk filling up), and
 * a short object or target file must never be renamed into place as if whole.
 */
export async function writevAll(fh: fs.FileHandle, bufs: Uint8Array[], position: number): Promise<void> {
  let rest = bufs.filter((b) => b.length > 0);
  while (rest.length) {
    let { bytesWritten: n } = await fh.writev(rest, position);
    if (n === 0) throw new Error(`wrote 0 bytes at offset ${position}`);
    position += n;
    while (rest.length && n >= rest[0]!.length) n -= rest.shift()!.length;
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}

/** Reads from `position` until `into` is full or the file ends; returns the bytes read. */
export async function readFully(fh: fs.FileHandle, into: Uint8Array, position: number): Promise<number> {
  let n = 0;
  while (n < into.length) {
    const { bytesRead } = await fh.read(into, n, into.length - n, position + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/**
 * A file's bytes in pieces of up to a megabyte, read into one buffer again and again: each piece is valid
 * until the next is asked for. A stream's new buffer per piece left ~50 MB of them to the collector when
 * a 53 MB manifest was read. ENOENT and other errors are thrown as fs throws them.
 */
export async function* piecesOf(file: string, size = 1 << 20): AsyncGenerator<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, size, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
