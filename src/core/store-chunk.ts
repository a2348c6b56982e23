// A chunk into the local store in one thread-pool job (src/native/store-chunk.c): a range of a file (or
// a chunk in memory) is hashed with BLAKE3 and written to a new file piece by piece, 256 KiB at a time,
// optionally to a checkout's temp file too, so both cores work and no user-space write of 4 MiB is
// involved (docs/dependencies.md). Absent when the addon was not built (no C compiler) or CKPTSYNC_NATIVE_COPY=0.

import fsSync from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import util from 'node:util';
import { readFully } from './file-io.js';
import { hashBytes } from './hash.js';

interface Addon {
  storeChunk(fdIn: number, offsetIn: number, length: number, path: string, digest: Buffer, fdOut: number, offsetOut: number): Promise<number>;
  landChunk(buffers: Uint8Array[], path: string, digest: Buffer, fdOut: number, offsetOut: number): Promise<number>;
  readChunk(fdIn: number, offsetIn: number, into: Uint8Array, digest: Buffer): Promise<number>;
  /** renameat2(a, b, RENAME_EXCHANGE): 0, or the errno. Absent from an addon built before it. */
  exchange?(a: string, b: string): number;
  /** New files written in one job (see the addon). Absent from an addon built before it. */
  writeFiles?(paths: Buffer, meta: Uint32Array, data: Uint8Array, renames?: Buffer): Promise<number>;
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

/** A second place the bytes go: `fd` at `offset` (a checkout's temp file), named `name` in errors. */
export interface AlsoWrite {
  fd: number;
  offset: number;
  name: string;
}

/**
 * Creates `path` (it must not exist) and fills it with `length` bytes of fdIn from offsetIn, hashing
 * each piece from the very buffer it is written from: the hash is the new file's, whatever the input
 * does meanwhile (manifest-spec.md §7). `source` names the input in errors; with `also`, every piece
 * is written there too.
 */
export function storeChunk(fdIn: number, offsetIn: number, length: number, path: string, source = `file descriptor ${fdIn}`, also?: AlsoWrite): Promise<StoredChunk> {
  if (path === '') return Promise.reject(new TypeError('storeChunk needs a path'));
  return run((a, digest) => a.storeChunk(fdIn, offsetIn, length, path, digest, ...outputOf(also)), { path, source, also });
}

/** Only hashes `length` bytes of fdIn from offsetIn (and with `also` writes them there), on the thread pool like storeChunk. */
export function hashChunk(fdIn: number, offsetIn: number, length: number, source = `file descriptor ${fdIn}`, also?: AlsoWrite): Promise<StoredChunk> {
  return run((a, digest) => a.storeChunk(fdIn, offsetIn, length, '', digest, ...outputOf(also)), { path: '', source, also });
}

/**
 * Hashes bytes in memory (a downloaded chunk, as the pieces it arrived in) on the thread pool, writing
 * each 256 KiB piece right after hashing it to a new file at `path` (unless "") and to `also`. The
 * caller compares the hash before it renames anything into place.
 */
export function landChunk(data: Uint8Array[], path: string, also?: AlsoWrite): Promise<StoredChunk> {
  return run((a, digest) => a.landChunk(data, path, digest, ...outputOf(also)), { path, source: 'memory', also });
}

/** Reads fdIn from offsetIn until `into` is full or the input ends, hashing each piece as it arrives, on the thread pool. */
export function readChunk(fdIn: number, offsetIn: number, into: Uint8Array, source = `file descriptor ${fdIn}`): Promise<StoredChunk> {
  return run((a, digest) => a.readChunk(fdIn, offsetIn, into, digest), { path: '', source });
}

/**
 * Reads fh from `offset` until `into` is full or the file ends, and hashes what it read: in one
 * thread-pool job with the addon (readChunk), else here.
 */
export async function readHashed(fh: FileHandle, offset: number, into: Uint8Array, source: string): Promise<StoredChunk> {
  if (native) return readChunk(fh.fd, offset, into, source);
  const bytes = await readFully(fh, into, offset);
  return { bytes, hash: hashBytes(into.subarray(0, bytes)) };
}

/** The addon's (fdOut, offsetOut) for `also`: -1 for none. */
const outputOf = (also?: AlsoWrite) => [also?.fd ?? -1, also?.offset ?? 0] as const;

async function run(call: (a: Addon, digest: Buffer) => Promise<number>, names: { path: string; source: string; also?: AlsoWrite }): Promise<StoredChunk> {
  if (!native) throw new StoreChunkError(ENOSYS, names.path ? `writing ${names.path}` : `reading ${names.source}`);
  const digest = Buffer.alloc(32);
  try {
    const bytes = await call(native, digest);
    return { bytes, hash: digest.toString('hex') };
  } catch (e) {
    const { errno, side } = e as { errno?: number; side?: string };
    if (errno === undefined) throw e;
    // The addon says which side failed: reading the input, the new file, or the second output.
    throw new StoreChunkError(errno, side === 'r' ? `reading ${names.source}` : side === 'f' ? `writing ${names.also?.name}` : `writing ${names.path}`);
  }
}

/**
 * Puts the file `tmp` in place of `target` at once, like a rename. Over an existing regular file, with
 * the addon, the two names are exchanged instead and the old file is returned under `tmp` for the caller
 * to remove: ext4 (its auto_da_alloc default) writes a file renamed over another out to disk before the
 * rename returns, 0.9 s of a 2.1 s pull of a new 1 GiB version over the old one here, where an exchange
 * leaves the writing to the kernel's writeback, as for a new name. Returns whether `tmp` now holds the
 * old file. `fresh`: the caller made the target's folder in this run, so nothing is there to replace (no
 * lstat: one system call of the four a small file of a pull costs).
 */
export function replaceFile(tmp: string, target: string, fresh = false): boolean {
  if (!fresh && native?.exchange && fsSync.lstatSync(target, { throwIfNoEntry: false })?.isFile()) {
    if (native.exchange(tmp, target) === 0) return true;
  }
  fsSync.renameSync(tmp, target); // no file there, or a file system without the exchange
  return false;
}

/** Whether writeNewFiles is here (false: callers write each file themselves). */
export const canWriteFiles: boolean = typeof native?.writeFiles === 'function';

/**
 * Creates each of `paths` new (it must not exist) and writes it its bytes, in one thread-pool job:
 * `meta` holds two numbers a file, its mode and where its bytes end in `data` (each file's start where
 * the one before ended). With `renames`, each file is then renamed to its place there. Fails on the
 * first file that fails, naming it; the ones before it are written (and renamed).
 */
export async function writeNewFiles(paths: readonly string[], meta: Uint32Array, data: Uint8Array, renames?: readonly string[]): Promise<void> {
  const listed = (names: readonly string[]) => Buffer.from(names.join('\0') + '\0');
  try {
    await (renames ? native!.writeFiles!(listed(paths), meta, data, listed(renames)) : native!.writeFiles!(listed(paths), meta, data));
  } catch (e) {
    const { errno, index } = e as { errno?: unknown; index?: unknown };
    if (typeof errno !== 'number' || typeof index !== 'number') throw e;
    throw new StoreChunkError(errno, `writing ${paths[index] ?? 'a file'}`);
  }
}
