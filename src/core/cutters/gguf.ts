// Tensor-aware cutting for GGUF files (llama.cpp; manifest-spec.md §2.4): a header (metadata key/values
// and tensor infos), then tensor data at aligned offsets. Cuts fall at tensor starts and at fixed sizes
// from each tensor's start; a tensor's extent is up to the next tensor's offset, so no table of ggml
// type sizes is needed.

import fs from 'node:fs/promises';
import type { ChunkerParams } from '../chunker.js';
import { segmentCuts, tile, type Segment } from './segments.js';

const MAGIC = 0x46554747; // "GGUF" little-endian
/** Headers larger than this (vocabularies are a few MB) are not parsed. */
const MAX_HEADER = 256 << 20;
const MAX_TENSORS = 1_000_000;
/** Byte sizes of the fixed-size metadata value types (GGUF v2/v3); 8 = string and 9 = array are variable. */
const FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

class HeaderReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fh: fs.FileHandle,
    private readonly size: number,
  ) {}
  private async need(n: number): Promise<void> {
    if (this.pos + n > Math.min(this.size, MAX_HEADER)) throw new RangeError('header out of bounds');
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(this.buf, 0, len, this.pos);
    if (bytesRead !== len) throw new RangeError('short read');
    this.bufStart = this.pos;
  }
  async u32(): Promise<number> {
    await this.need(4);
    const v = this.buf.readUInt32LE(this.pos - this.bufStart);
    this.pos += 4;
    return v;
  }
  async u64(): Promise<number> {
    await this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos - this.bufStart);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('u64 too large');
    return Number(v);
  }
  async string(): Promise<string> {
    const n = await this.u64();
    await this.need(n);
    const s = this.buf.toString('utf8', this.pos - this.bufStart, this.pos - this.bufStart + n);
    this.pos += n;
    return s;
  }
  async skip(n: number): Promise<void> {
    if (this.pos + n > Math.min(this.size, MAX_HEADER)) throw new RangeError('header out of bounds');
    this.pos += n;
  }
  /** Reads a value of the given type; returns it when it is a small integer (for general.alignment). */
  async value(type: number): Promise<number | undefined> {
    if (type === 4) return this.u32();
    if (FIXED[type] !== undefined) return void (await this.skip(FIXED[type]!));
    if (type === 8) return void (await this.skip(await this.u64()));
    if (type === 9) {
      const inner = await this.u32();
      const count = await this.u64();
      if (FIXED[inner] !== undefined) return void (await this.skip(count * FIXED[inner]!));
      for (let i = 0; i < count; i++) await this.value(inner);
      return undefined;
    }
    throw new RangeError(`unknown GGUF value type ${type}`);
  }
}

/** The segments of a GGUF file, or null if it is not one whose structure we can trust. */
export async function ggufLayout(path: string, size: number): Promise<Segment[] | null> {
  if (size < 24) return null;
  const fh = await fs.open(path, 'r');
  try {
    const r = new HeaderReader(fh, size);
    if ((await r.u32()) !== MAGIC) return null;
    const version = await r.u32();
    if (version !== 2 && version !== 3) return null;
    const tensorCount = await r.u64();
    const kvCount = await r.u64();
    if (tensorCount < 1 || tensorCount > MAX_TENSORS) return null;
    let alignment = 32;
    for (let i = 0; i < kvCount; i++) {
      const key = await r.string();
      const v = await r.value(await r.u32());
      if (key === 'general.alignment' && v !== undefined) alignment = v;
    }
    if (alignment < 1 || (alignment & (alignment - 1)) !== 0) return null;
    const offsets: number[] = [];
    for (let i = 0; i < tensorCount; i++) {
      await r.string();
      const dims = await r.u32();
      if (dims > 8) return null;
      await r.skip(8 * dims + 4); // dimensions, ggml type
      offsets.push(await r.u64());
    }
    const dataStart = Math.ceil(r.pos / alignment) * alignment;
    offsets.sort((a, b) => a - b);
    const regions: Segment[] = [];
    for (const [i, off] of offsets.entries()) {
      if (off % alignment !== 0 || (i > 0 && off === offsets[i - 1])) return null;
      const start = dataStart + off;
      const end = i + 1 < offsets.length ? dataStart + offsets[i + 1]! : size;
      if (start >= size) return null;
      regions.push({ start, end, anchor: start });
    }
    return tile(size, regions);
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  } finally {
    await fh.close();
  }
}

export function ggufCuts(segments: Segment[], p: ChunkerParams): number[] {
  return segmentCuts(segments, p);
}
