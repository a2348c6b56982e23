// The cutting rule shared by the container cutters (manifest-spec.md §2.3, §2.4): a file is described
// as segments that tile it (tensors, records, headers); each large segment is cut at fixed sizes
// counted from its anchor (where its payload starts), small segments are grouped. No rolling hash.

import type { ChunkerParams } from '../chunker.js';

export interface Segment {
  start: number;
  end: number;
  /** Where fixed-size pieces are counted from: start, or the payload start after a small record header. */
  anchor: number;
}

/**
 * Chunk lengths for segments that tile [0, size) in order. A segment whose payload (end - anchor) is at
 * least `min` closes the open group, then is cut at anchor + k*avg (k >= 1), its bytes before the anchor
 * joining the first piece; a smaller segment joins the open group, which closes once it spans `avg`.
 */
export function segmentCuts(segments: Segment[], p: ChunkerParams): number[] {
  const lengths: number[] = [];
  let groupStart = -1;
  let groupEnd = -1;
  const flush = () => {
    if (groupStart >= 0) lengths.push(groupEnd - groupStart);
    groupStart = -1;
  };
  // A prefix longer than min would make the first piece exceed avg + min <= max: it stands alone.
  const split = segments.flatMap((s) => (s.anchor - s.start > p.min ? [{ start: s.start, end: s.anchor, anchor: s.start }, { start: s.anchor, end: s.end, anchor: s.anchor }] : [s]));
  for (const s of split) {
    if (s.end - s.anchor >= p.min) {
      flush();
      let from = s.start;
      for (let cut = s.anchor + p.avg; cut < s.end; cut += p.avg) {
        lengths.push(cut - from);
        from = cut;
      }
      lengths.push(s.end - from);
    } else if (s.end > s.start) {
      if (groupStart < 0) groupStart = s.start;
      groupEnd = s.end;
      if (groupEnd - groupStart >= p.avg) flush();
    }
  }
  flush();
  return lengths;
}

/** Segments tiling [0, size) from sorted, non-overlapping payload regions: gaps become their own segments. */
export function tile(size: number, regions: Segment[]): Segment[] | null {
  const out: Segment[] = [];
  let pos = 0;
  for (const r of regions) {
    if (r.start < pos || r.end < r.anchor || r.anchor < r.start || r.end > size) return null;
    if (r.start > pos) out.push({ start: pos, end: r.start, anchor: pos });
    out.push(r);
    pos = r.end;
  }
  if (pos < size) out.push({ start: pos, end: size, anchor: pos });
  return out;
}

/** Reads exact byte ranges of a file with positional reads (header parsing). */
export interface RangeReader {
  read(offset: number, length: number): Promise<Buffer>;
}
