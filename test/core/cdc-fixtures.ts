// Shared by the FastCDC kernel tests (gear-kernel, cdc-parallel): parameter sets, the in-memory cut as a
// reference, and data with no cut point at all.

import { fastcdcCutFinder, fastcdcMasks, GEAR, type ChunkerParams } from '../../src/core/chunker.js';
import type { GearKernel } from '../../src/core/gear-wasm.js';

export const fc = (min: number, avg: number, max: number): ChunkerParams => ({ alg: 'fastcdc-gear32', min, avg, max });

/** The chunk lengths `kernel` cuts `data` into, the whole input in memory. */
export function cutLengths(data: Uint8Array, p: ChunkerParams, kernel: GearKernel): number[] {
  const cut = fastcdcCutFinder(p, kernel);
  const out: number[] = [];
  for (let start = 0; start < data.length; start += out.at(-1)!) out.push(cut(data, start, data.length, true));
  return out;
}

/** A byte whose repetition never satisfies maskL (hence never maskS either): data with no cut point. */
export function byteWithoutCuts(p: ChunkerParams): number {
  const maskL = fastcdcMasks(p).maskL >>> 0;
  for (let b = 0; b < 256; b++) {
    let h = 0;
    let cuts = false;
    for (let i = 0; i < 64 && !cuts; i++) {
      h = ((h << 1) + GEAR[b]!) >>> 0;
      cuts = (h & maskL) === 0;
    }
    if (!cuts) return b;
  }
  throw new Error('every byte value cuts');
}

/**
 * Two bytes whose second, rolled from h = 0, satisfies maskS of fc(64, 64, 256) (top 8 bits zero): no
 * single byte does, so runs of this pair cut every min + 2 bytes. Null if no pair does.
 */
export function pairCuttingAtOnce(): Buffer | null {
  for (let x = 0; x < 65536; x++) if ((((GEAR[x >> 8]! << 1) + GEAR[x & 0xff]!) >>> 24) === 0) return Buffer.of(x >> 8, x & 0xff);
  return null;
}
