// Tensor-aware cutting for PyTorch zip checkpoints (manifest-spec.md §2.3). torch.save stores each
// tensor's storage as an uncompressed zip record whose data is aligned to 64 bytes; a record's bytes do
// not move within it between versions of the same shape, so cutting at record starts and at fixed sizes
// from each record's data start deduplicates every unchanged tensor.

import fs from 'node:fs/promises';
import type { ChunkerParams } from '../chunker.js';
import { segmentCuts, tile, type Segment } from './segments.js';

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
/** More entries than this is not a checkpoint we cut by structure (and bounds the header reads). */
const MAX_ENTRIES = 1_000_000;
const MAX_CENTRAL_DIR = 256 << 20;

/** The segments of a torch.save zip, or null if the file is not one whose structure we can trust. */
export async function pytorchZipLayout(path: string, size: number): Promise<Segment[] | null> {
  if (size < 22) return null;
  const fh = await fs.open(path, 'r');
  try {
    const read = async (offset: number, length: number) => {
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      return bytesRead === length ? b : null;
    };
    // The end-of-central-directory record: last 22 bytes plus at most a 64 KiB comment.
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = await read(size - tailLen, tailLen);
    if (!tail) return null;
    let e = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIG && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
        e = i;
        break;
      }
    }
    if (e < 0) return null;
    const eocdPos = size - tailLen + e;
    let count = tail.readUInt16LE(e + 10);
    let cdSize = tail.readUInt32LE(e + 12);
    let cdOffset = tail.readUInt32LE(e + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocdPos >= 20 ? await read(eocdPos - 20, 20) : null;
      if (!loc || loc.readUInt32LE(0) !== ZIP64_LOCATOR_SIG) return null;
      const z = await read(Number(loc.readBigUInt64LE(8)), 56);
      if (!z || z.readUInt32LE(0) !== ZIP64_EOCD_SIG) return null;
      count = Number(z.readBigUInt64LE(32));
      cdSize = Number(z.readBigUInt64LE(40));
      cdOffset = Number(z.readBigUInt64LE(48));
    }
    if (count < 1 || count > MAX_ENTRIES || cdSize > MAX_CENTRAL_DIR || cdOffset + cdSize > size) return null;
    const cd = await read(cdOffset, cdSize);
    if (!cd) return null;
    const records: Segment[] = [];
    let sawPickle = false;
    for (let i = 0, p = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) return null;
      const method = cd.readUInt16LE(p + 10);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let local = cd.readUInt32LE(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) return null;
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extended information: the 64-bit values of the fields set to 0xffffffff, in this order.
      for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          const next = () => {
            if (q + 8 > x + 4 + len) throw new RangeError('short zip64 field');
            const v = Number(cd.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          try {
            if (usize === 0xffffffff) usize = next();
            if (csize === 0xffffffff) csize = next();
            if (local === 0xffffffff) local = next();
          } catch {
            return null;
          }
        }
        x += 4 + len;
      }
      if (method !== 0 || csize !== usize) return null; // only stored records have stable bytes
      if (name.endsWith('/data.pkl') || name === 'data.pkl') sawPickle = true;
      const lh = await read(local, 30);
      if (!lh || lh.readUInt32LE(0) !== LOCAL_SIG) return null;
      const dataStart = local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      // The local header holds the record's CRC, which changes whenever any byte of the record does: it
      // is left out of the record's segment, so a sparse update does not also rewrite the first piece.
      records.push({ start: dataStart, end: dataStart + csize, anchor: dataStart });
      p += 46 + nameLen + extraLen + commentLen;
    }
    if (!sawPickle) return null;
    records.sort((a, b) => a.start - b.start);
    if (records.length && records[records.length - 1]!.end > cdOffset) return null;
    return tile(size, records);
  } finally {
    await fh.close();
  }
}

export function pytorchZipCuts(segments: Segment[], p: ChunkerParams): number[] {
  return segmentCuts(segments, p);
}
