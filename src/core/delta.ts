// Chunk deltas (manifest-spec.md §8a): a chunk stored on a remote as the byte ranges in which it differs
// from a base chunk of the same size. Tensor bytes do not shift between versions of the same shape, so
// a sparse update of a large tensor changes a few ranges of a chunk at fixed offsets: the delta carries
// those ranges instead of the whole chunk. Pure functions; hashes are checked by the callers.

import { IntegrityError } from '../errors.js';

const MAGIC = Buffer.from('CKD1', 'latin1');
const HEADER_BYTES = 44; // magic, base hash, size, patch count
const PATCH_HEADER_BYTES = 8; // offset, length
/** Equal bytes shorter than this between two differing runs are carried in one patch (cheaper than a new header). */
const MERGE_GAP = 16;
/** Equal regions are skipped a block at a time with one native compare. */
const BLOCK = 4096;
/** The first pass counts differing blocks of this size: a rewritten chunk is refused without a byte loop. */
const COARSE = 512;

/** Bytes in each block the sampled test compares (manifest-spec.md §8a leaves the test to the writer). */
export const SAMPLE_BYTES = COARSE;

/** Offsets of the blocks (SAMPLE_BYTES each) the sampled test compares in a chunk of n bytes: up to 32, evenly spread. */
export function sampleOffsets(n: number): number[] {
  const samples = Math.min(32, Math.floor(n / COARSE));
  return Array.from({ length: samples }, (_, k) => Math.floor((k * (n - COARSE)) / Math.max(1, samples - 1)));
}

/**
 * The sampled half of mayFit: false when the base's blocks at sampleOffsets (`sampled`, one after
 * another) show `target` rewritten throughout, so that a caller can refuse a delta after reading a few
 * KiB of the base instead of all of it. Also false when `sampled` is short (a base of another size).
 */
export function samplesMayFit(target: Buffer, sampled: Buffer, budget: number): boolean {
  const n = target.length;
  const offsets = sampleOffsets(n);
  if (sampled.length !== offsets.length * COARSE) return false;
  let differing = 0;
  offsets.forEach((at, k) => {
    if (target.compare(sampled, k * COARSE, (k + 1) * COARSE, at, at + COARSE) !== 0) differing++;
  });
  return !(offsets.length >= 8 && (differing / offsets.length) * n > budget * 1.25);
}

/**
 * A cheap test that a delta of `target` over `base` may fit in `budget` bytes: false for different sizes,
 * for a chunk rewritten throughout (samplesMayFit: sampled blocks tell, without reading the rest), and
 * when the COARSE blocks the two differ in already exceed the budget (changes scattered a few bytes per
 * block are not worth a delta). Looks at the bytes only to decide whether to try: a caller may run it on
 * a base it has not verified yet.
 */
export function mayFit(target: Buffer, base: Buffer, budget: number): boolean {
  const n = target.length;
  if (n === 0 || base.length !== n || n > 0xffffffff) return false;
  const sampled = Buffer.concat(sampleOffsets(n).map((at) => base.subarray(at, at + COARSE)));
  if (!samplesMayFit(target, sampled, budget)) return false;
  let coarse = 0;
  for (let i = 0; i < n; i += COARSE) {
    const end = Math.min(n, i + COARSE);
    if (target.compare(base, i, end, i, end) !== 0 && (coarse += end - i) > budget) return false;
  }
  return true;
}

/**
 * Encodes `target` as patches over `base` (same length), or returns null when the delta would exceed
 * `budget` bytes or mayFit says it cannot fit (the caller then stores the chunk whole).
 */
export function encodeDelta(target: Buffer, base: Buffer, baseHash: string, budget: number): Buffer | null {
  if (!mayFit(target, base, budget)) return null;
  const n = target.length;
  const patches: number[] = []; // offset, length pairs
  let bytes = HEADER_BYTES;
  let i = nextDifference(target, base, 0);
  while (i < n) {
    let last = i;
    for (let j = i + 1; j < n && j - last <= MERGE_GAP; j++) if (target[j] !== base[j]) last = j;
    const end = last + 1;
    patches.push(i, end - i);
    bytes += PATCH_HEADER_BYTES + end - i;
    if (bytes > budget) return null;
    i = nextDifference(target, base, end);
  }
  const out = Buffer.allocUnsafe(bytes);
  MAGIC.copy(out, 0);
  out.write(baseHash, 4, 32, 'hex');
  out.writeUInt32LE(n, 36);
  out.writeUInt32LE(patches.length / 2, 40);
  let at = HEADER_BYTES;
  for (let k = 0; k < patches.length; k += 2) {
    const [off, len] = [patches[k]!, patches[k + 1]!];
    out.writeUInt32LE(off, at);
    out.writeUInt32LE(len, at + 4);
    target.copy(out, at + PATCH_HEADER_BYTES, off, off + len);
    at += PATCH_HEADER_BYTES + len;
  }
  return out;
}

/** The first offset >= from at which a and b differ, or their length when none does. */
function nextDifference(a: Buffer, b: Buffer, from: number): number {
  const n = a.length;
  let i = from;
  while (i < n) {
    const end = Math.min(n, i + BLOCK);
    if (a.compare(b, i, end, i, end) === 0) {
      i = end;
      continue;
    }
    while (a[i] === b[i]) i++;
    return i;
  }
  return n;
}

export interface DeltaHeader {
  /** Hash of the base chunk, lowercase hex. */
  base: string;
  /** Size of the base and of the chunk it rebuilds. */
  size: number;
}

/** Reads and checks a delta's header; `what` names the object in errors. */
export function deltaHeader(delta: Buffer, what: string): DeltaHeader {
  if (delta.length < HEADER_BYTES || !delta.subarray(0, 4).equals(MAGIC)) throw new IntegrityError(`${what} is not a chunk delta (bad magic or too short)`);
  return { base: delta.toString('hex', 4, 36), size: delta.readUInt32LE(36) };
}

/** Rebuilds the chunk: a copy of `base` with the delta's patches written over it. Refuses malformed deltas. */
export function applyDelta(delta: Buffer, base: Buffer, what: string): Buffer {
  const { size } = deltaHeader(delta, what);
  if (base.length !== size) throw new IntegrityError(`${what} is for a ${size}-byte base, got ${base.length} bytes`);
  const count = delta.readUInt32LE(40);
  const out = Buffer.from(base);
  let at = HEADER_BYTES;
  let prevEnd = 0;
  for (let k = 0; k < count; k++) {
    if (at + PATCH_HEADER_BYTES > delta.length) throw new IntegrityError(`${what} is truncated`);
    const off = delta.readUInt32LE(at);
    const len = delta.readUInt32LE(at + 4);
    at += PATCH_HEADER_BYTES;
    if (len === 0 || off < prevEnd || off + len > size || at + len > delta.length) throw new IntegrityError(`${what} has a patch out of order or out of bounds`);
    delta.copy(out, off, at, at + len);
    at += len;
    prevEnd = off + len;
  }
  if (at !== delta.length) throw new IntegrityError(`${what} has bytes after its last patch`);
  return out;
}
