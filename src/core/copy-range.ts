// Kernel-side copies of a file range into a new file (copy_file_range(2), src/native/copy-range.c).
// The local store's copy of a checkpoint goes this way when it can (src/core/store-by-copy.ts): on the
// machines we measured, the kernel copied a gigabyte in a third to a seventh of the system time write(2) from
// user memory took. Absent when the addon was not built (no C compiler) or CKPTSYNC_NATIVE_COPY=0.

import { createRequire } from 'node:module';
import os from 'node:os';
import util from 'node:util';

interface Addon {
  storeRange(fdIn: number, offsetIn: number, length: number, path: string, into: Buffer): Promise<number>;
}

function load(): Addon | null {
  if (process.env.CKPTSYNC_NATIVE_COPY === '0' || process.platform !== 'linux') return null;
  try {
    return createRequire(import.meta.url)('../../native/copy-range.node') as Addon;
  } catch {
    return null;
  }
}

const native = load();

/** Whether the addon is here (false: callers use their read-and-write path). */
export const nativeCopy: boolean = native !== null;

const { ENOSYS } = os.constants.errno;

/** Worded as Node words a failed system call ("ENOSPC: no space left on device, copy_file_range into ..."). */
export class CopyRangeError extends Error {
  readonly code: string;
  constructor(errno: number, path: string) {
    const [code, text] = util.getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
    super(`${code}: ${text}, copy_file_range into ${path}`);
    this.code = code;
  }
}

/**
 * Creates `path` (it must not exist), fills it with `length` bytes of fdIn from offsetIn, and leaves in
 * `into` the bytes the new file holds, read back from it after the kernel's copy (or, where the kernel
 * cannot copy between these files, read from fdIn and then written). Returns how many bytes that is
 * (fewer than `length` only when the input ended). One thread-pool job for what would be an open, a
 * copy, reads and a close.
 */
export async function storeRange(fdIn: number, offsetIn: number, length: number, path: string, into: Buffer): Promise<number> {
  if (!native) throw new CopyRangeError(ENOSYS, path);
  try {
    return await native.storeRange(fdIn, offsetIn, length, path, into);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    throw errno === undefined ? e : new CopyRangeError(errno, path);
  }
}
