// How a directory remote lays its objects out on disk (its "wire"): names and formats only.
// An object is the file <root>/<key>; everything below is never a key (keys never start with '.' nor
// contain these marks, src/remote/layout.ts), so list() can skip it.

import crypto from 'node:crypto';

/** A put writes <file><TMP_MARK><random> beside the object, then renames it into place. */
export const TMP_MARK = '.tmp-';

/** swapDocument's lock: the directory <document><LOCK_SUFFIX> (proper-lockfile; an atomic mkdir, also on NFS). */
export const LOCK_SUFFIX = '.lock';

/** A document's version: the SHA-256 of its content, in hex. */
export function versionOf(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}
