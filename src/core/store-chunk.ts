// A chunk of a file into the local store in one thread-pool job (src/native/store-chunk.c): the range
// is read, hashed with BLAKE3 and written to a new file piece by piece from one small buffer, so both
// cores work and no chunk-sized buffer or user-space write of 4 MiB is involved (README,
// "Dependencies"). Absent when the addon was not built (no C compiler) or CKPTSYNC_NATIVE_COPY=0.

import { createRequire } from 'node:module';
import os from 'node:os';
import util from 'node:util';

interface Addon {
  storeChunk(fdIn: number, offsetIn: number, length: number, path: string, digest: Buffer): Promise<number>;
}

function load(): Addon | null {
  if (process.env.CKPTSYNC_NATIVE_COPY === '0' || process.platform !== 'linux') return null;
  try {
    return createRequire(import.meta.url)('../../native/store-chunk.node') as Addon;
  } catch {
    return null;
  }
}

const native = load();

/** Whether the addon is here (false: callers use their read-and-write path). */
export const nativeStore: boolean = native !== null;

const { ENOSYS } = os.constants.errno;

/** Worded as Node words a failed system call ("ENOSPC: no space left on device, writing PATH"). */
export class StoreChunkError extends Error {
  readonly code: string;
  /** `doing`: what failed, e.g. "writing PATH". */
  constructor(errno: number, doing: string) {
    const [code, text] = util.getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
    super(`${code}: ${text}, ${doing}`);
    this.code = code;
  }
}

export interface StoredChunk {
  /** Bytes read (and written): fewer than asked for only when the input ended. */
  bytes: number;
  /** BLAKE3 of exactly those bytes, lowercase hex. */
  hash: string;
}

/**
 * Creates `path` (it must not exist) and fills it with `length` bytes of fdIn from offsetIn, hashing
 * each piece from the very buffer it is written from: the hash is the new file's, whatever the input
 * does meanwhile (manifest-spec.md §7). `source` names the input in errors.
 */
export function storeChunk(fdIn: number, offsetIn: number, length: number, path: string, source = `file descriptor ${fdIn}`): Promise<StoredChunk> {
  if (path === '') return Promise.reject(new TypeError('storeChunk needs a path'));
  return run(fdIn, offsetIn, length, path, source);
}

/** Only hashes `length` bytes of fdIn from offsetIn, on the thread pool like storeChunk. */
export function hashChunk(fdIn: number, offsetIn: number, length: number, source = `file descriptor ${fdIn}`): Promise<StoredChunk> {
  return run(fdIn, offsetIn, length, '', source);
}

async function run(fdIn: number, offsetIn: number, length: number, path: string, source: string): Promise<StoredChunk> {
  if (!native) throw new StoreChunkError(ENOSYS, path ? `writing ${path}` : `reading ${source}`);
  const digest = Buffer.alloc(32);
  try {
    const bytes = await native.storeChunk(fdIn, offsetIn, length, path, digest);
    return { bytes, hash: digest.toString('hex') };
  } catch (e) {
    const { errno, syscall } = e as { errno?: number; syscall?: string };
    if (errno === undefined) throw e;
    // The addon says which side failed: reading the input, or creating and writing the new file.
    throw new StoreChunkError(errno, syscall === 'read' ? `reading ${source}` : `writing ${path}`);
  }
}
