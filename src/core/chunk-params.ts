// The chunking algorithms' names and parameters, the gear table and the FastCDC masks (manifest-spec.md,
// "Chunking"): what the one-pass chunker (chunker.ts) and the parallel scanner (cdc-parallel.ts) share.

import { hashBytes } from './hash.js';

export const FASTCDC_ALG = 'fastcdc-gear32';

export const SAFETENSORS_ALG = 'safetensors';
export const PYTORCH_ZIP_ALG = 'pytorch-zip';
export const GGUF_ALG = 'gguf';

/** The tensor-aware algorithms: fixed cuts from a parsed layout, with max >= avg + min. */
export const TENSOR_ALGS: readonly string[] = [SAFETENSORS_ALG, PYTORCH_ZIP_ALG, GGUF_ALG];

export interface ChunkerParams {
  /** fastcdc-gear32 (§2.1), safetensors (§2.2), pytorch-zip (§2.3) or gguf (§2.4). */
  alg: typeof FASTCDC_ALG | typeof SAFETENSORS_ALG | typeof PYTORCH_ZIP_ALG | typeof GGUF_ALG;
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { alg: FASTCDC_ALG, min: 256 << 10, avg: 1 << 20, max: 4 << 20 };
// Tensor-aware: 4 MiB pieces inside large tensors (manifest-spec.md §2.5 says why, with the measurements).
// A sparse update still moves about the bytes it changed, as chunk deltas (§8a).
export const DEFAULT_SAFETENSORS_CHUNKER: ChunkerParams = { alg: SAFETENSORS_ALG, min: 64 << 10, avg: 4 << 20, max: 8 << 20 };
export const DEFAULT_PYTORCH_ZIP_CHUNKER: ChunkerParams = { ...DEFAULT_SAFETENSORS_CHUNKER, alg: PYTORCH_ZIP_ALG };
export const DEFAULT_GGUF_CHUNKER: ChunkerParams = { ...DEFAULT_SAFETENSORS_CHUNKER, alg: GGUF_ALG };

/** GEAR[i] = the first 4 bytes, little-endian, of BLAKE3 of the single byte i. */
export const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) t[i] = Buffer.from(hashBytes(Uint8Array.of(i)).slice(0, 8), 'hex').readUInt32LE(0);
  return t;
})();

export function validateChunker(p: ChunkerParams): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (p.alg !== FASTCDC_ALG && !TENSOR_ALGS.includes(p.alg)) throw new RangeError(`unknown chunker ${String(p.alg)}`);
  if (!pow2(p.avg) || p.avg < 64 || p.avg > 1 << 28) throw new RangeError('chunker avg must be a power of two between 64 and 256 MiB');
  if (!(Number.isInteger(p.min) && p.min >= 64 && p.min <= p.avg && p.avg <= p.max && p.max <= 1 << 30)) {
    throw new RangeError('chunker sizes must satisfy 64 <= min <= avg <= max <= 1 GiB');
  }
  if (p.alg !== FASTCDC_ALG && p.max < p.avg + p.min) throw new RangeError(`${p.alg} chunker needs max >= avg + min`);
}

/** Mask of the top n bits of a 32-bit word. */
const topBits = (n: number) => (n >= 32 ? 0xffffffff : ((0xffffffff << (32 - n)) >>> 0)) | 0;

/** §2.1's masks: maskS (top log2(avg) + 2 bits) before `avg`, maskL (top log2(avg) - 2, at least 1) after. */
export function fastcdcMasks(p: ChunkerParams): { maskS: number; maskL: number } {
  const bits = Math.round(Math.log2(p.avg));
  return { maskS: topBits(bits + 2), maskL: topBits(Math.max(1, bits - 2)) };
}
