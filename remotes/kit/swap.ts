// The compare-and-swap of drivers whose store has no conditional write (a directory, WebDAV): hold a
// lock on the document while reading it, comparing its version and replacing it. The lock is the
// driver's (an atomic mkdir, an atomic MKCOL); the write must itself be atomic for readers (temp and
// rename, PUT and MOVE), since readers never take the lock. SFTP uploads before it locks, to hold its
// lock for fewer round trips, and keeps its own loop.

export interface LockedSwap {
  /** Takes the document's lock, waiting for another writer; resolves to its release. */
  lock(): Promise<() => Promise<void>>;
  /** The document's current version, or null when it does not exist. */
  version(): Promise<string | null>;
  /** Replaces the document (atomically for readers) and returns its new version. */
  write(): Promise<string>;
}

/** swapDocument under a lock: the new version, or null (nothing written) when `expected` is not current. */
export async function lockedSwap(expected: string | null, s: LockedSwap): Promise<string | null> {
  const release = await s.lock();
  try {
    if ((await s.version()) !== expected) return null;
    return await s.write();
  } finally {
    await release();
  }
}
