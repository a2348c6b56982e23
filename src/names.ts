// The rules every floor shares for what a hash and a name look like (manifest-spec.md §1, §6.1). The bottom
// floor with errors.ts: the core, the remote protocol and the drivers all take them from here.

import { UsageError } from './errors.js';

const HASH_RE = /^[0-9a-f]{64}$/;
const NAME_SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._+=@-]*$/;

export function isHash(s: string): boolean {
  return HASH_RE.test(s);
}

export function assertHash(s: string): void {
  if (!HASH_RE.test(s)) throw new UsageError(`not a BLAKE3 hash: ${JSON.stringify(s.slice(0, 80))}`);
}

/**
 * The longest segment of a name (manifest-spec.md §6.1): a segment becomes a file name with suffixes
 * added (`.ref`, a temporary `.tmp-<pid>-<hex>`, a `.lock`), and those must fit the 255-byte file-name
 * limit of common file systems.
 */
export const NAME_SEGMENT_MAX_BYTES = 200;

/** Names: '/'-separated segments of [A-Za-z0-9._+=@-], not starting with '.', at most 255 bytes. */
export function isRefName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > 255) return false;
  return name.split('/').every((seg) => NAME_SEGMENT_RE.test(seg) && seg.length <= NAME_SEGMENT_MAX_BYTES && !seg.endsWith('.ref') && !seg.endsWith('.lock'));
}

export function assertRefName(name: string): void {
  if (!isRefName(name)) {
    throw new UsageError(
      `invalid name ${JSON.stringify(name.slice(0, 80))}: use '/'-separated parts of letters, digits and . _ + = @ -, each starting with a letter or digit, at most ${NAME_SEGMENT_MAX_BYTES} bytes each and 255 in all`,
    );
  }
}
