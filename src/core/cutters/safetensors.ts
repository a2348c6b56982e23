// Tensor-aware cutting for safetensors files (manifest-spec.md §2.2): chunk boundaries fall at tensor
// starts and ends, and inside a large tensor at fixed offsets counted from its start, so a tensor that
// did not change is deduplicated whatever changed around it, and no rolling hash is needed.

import fs from 'node:fs/promises';
import type { ChunkerParams } from '../chunker.js';
/** Larger headers are not taken for safetensors (the format itself caps them at 100 MB). */
const MAX_HEADER = 100_000_000;

interface Region {
  start: number;
  end: number;
}

/** Tensor regions (absolute offsets) of a safetensors file, or null if it is not one we can trust. */
export async function safetensorsLayout(path: string, fileSize: number): Promise<{ headerEnd: number; tensors: Region[] } | null> {
  if (fileSize < 10) return null;
  const fh = await fs.open(path, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n < 2 || n > MAX_HEADER || 8 + n > fileSize) return null;
    const header = Buffer.alloc(n);
    await fh.read(header, 0, n, 8);
    if (header[0] !== 0x7b /* { */) return null;
    let json: Record<string, { data_offsets?: unknown }>;
    try {
      json = JSON.parse(header.toString('utf8'));
    } catch {
      return null;
    }
    const headerEnd = 8 + n;
    const tensors: Region[] = [];
    for (const [name, info] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const off = info?.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[0] > off[1]) return null;
      if (off[1] > off[0]) tensors.push({ start: headerEnd + off[0], end: headerEnd + off[1] });
    }
    tensors.sort((a, b) => a.start - b.start);
    // Tensors must tile the data region exactly: no gaps, no overlaps, nothing after the last.
    let pos = headerEnd;
    for (const t of tensors) {
      if (t.start !== pos) return null;
      pos = t.end;
    }
    if (pos !== fileSize) return null;
    return { headerEnd, tensors };
  } finally {
    await fh.close();
  }
}

/**
 * Chunk lengths for a safetensors file: the header cut in pieces of `avg`; a tensor of at least `min`
 * bytes cut in pieces of `avg` from its start; runs of smaller tensors grouped until a group reaches
 * `avg` bytes (so a group stays below avg + min <= max).
 */
export function safetensorsCuts(layout: { headerEnd: number; tensors: Region[] }, p: ChunkerParams): number[] {
  const lengths: number[] = [];
  const pieces = (start: number, end: number) => {
    for (let s = start; s < end; s += p.avg) lengths.push(Math.min(p.avg, end - s));
  };
  pieces(0, layout.headerEnd);
  let groupStart = -1;
  let groupEnd = -1;
  const flush = () => {
    if (groupStart >= 0) lengths.push(groupEnd - groupStart);
    groupStart = -1;
  };
  for (const t of layout.tensors) {
    const len = t.end - t.start;
    if (len >= p.min) {
      flush();
      pieces(t.start, t.end);
    } else {
      if (groupStart < 0) groupStart = t.start;
      groupEnd = t.end;
      if (groupEnd - groupStart >= p.avg) flush();
    }
  }
  flush();
  return lengths;
}
