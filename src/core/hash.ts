// BLAKE3 hashing (manifest-spec.md, "Hashing"). The native addon @napi-rs/blake-hash is the engine
// (~4.4 GB/s here); blake3-wasm is the fallback where the addon cannot load. blake3-wasm 3.0.0 returned
// wrong hashes for a single update() above 1 MiB, so the fallback is always fed at most 1 MiB per call.

import { createRequire } from 'node:module';

export interface Hasher {
  update(data: Uint8Array): Hasher;
  /** Lowercase hex digest. */
  digest(): string;
}

type EngineName = 'native' | 'wasm';
const require = createRequire(import.meta.url);
const WASM_MAX_UPDATE = 1 << 20;

interface NativeHasher {
  update(input: Uint8Array): unknown;
  digest(format: string): string;
  reset(): void;
}

function loadNative(): (new () => NativeHasher) | null {
  if (process.env.CKPTSYNC_BLAKE3 === 'wasm') return null;
  try {
    return (require('@napi-rs/blake-hash') as { Blake3Hasher: new () => NativeHasher }).Blake3Hasher;
  } catch {
    return null;
  }
}

interface WasmHash {
  update(data: Uint8Array): unknown;
  digest(encoding: 'hex'): string;
}

function loadWasm(): () => WasmHash {
  const mod = require('blake3-wasm') as { createHash(): WasmHash };
  return () => mod.createHash();
}

const Native = loadNative();
let wasmFactory: (() => WasmHash) | null = null;

export const hashEngine: EngineName = Native ? 'native' : 'wasm';

class NativeBlake3 implements Hasher {
  private readonly h = new Native!();
  update(data: Uint8Array): Hasher {
    if (data.length > 0) this.h.update(data);
    return this;
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

export class WasmBlake3 implements Hasher {
  private readonly h = (wasmFactory ??= loadWasm())();
  update(data: Uint8Array): Hasher {
    for (let off = 0; off < data.length; off += WASM_MAX_UPDATE) {
      this.h.update(data.subarray(off, Math.min(data.length, off + WASM_MAX_UPDATE)));
    }
    return this;
  }
  digest(): string {
    return this.h.digest('hex');
  }
}

export function createHasher(engine: EngineName = hashEngine): Hasher {
  return engine === 'native' && Native ? new NativeBlake3() : new WasmBlake3();
}

export function hashBytes(data: Uint8Array, engine: EngineName = hashEngine): string {
  if (engine !== 'native' || !Native) return createHasher(engine).update(data).digest();
  // One native hasher, reset for each call (hashing is synchronous): a new one per small file cost ~6 µs.
  oneShot ??= new Native();
  oneShot.reset();
  if (data.length > 0) oneShot.update(data);
  return oneShot.digest('hex');
}
let oneShot: NativeHasher | null = null;
