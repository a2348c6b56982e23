// File helpers for the drivers that store objects as files (local, and SFTP's memory reclaim): the core's
// whole-buffer reads and writes, and file-system failures as typed errors.

import { ConfigError, TransientError, isRetryable, typedErrno } from '../../src/remote/index.js';

export { readFully, writevAll } from '../../src/core/file-io.js';
export { minorCollectionEvery } from '../../src/core/reclaim.js';

/** errno codes that say "try again" without anything being wrong with the remote. */
const BUSY = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'ESTALE']);

/**
 * A file-system failure as a typed error naming what failed (`what`: "writing chunks/ab/.. on
 * file:///srv/r"): typedErrno's mapping (EACCES -> AuthError, ENOSPC -> NoSpaceError, ...), a busy system
 * as TransientError, and any other errno (EIO, ELOOP, ...) as ConfigError: a remote the user must look
 * at. An error without an errno code (a driver's own CkptError, a bug) is returned unchanged.
 */
export function fsError(e: unknown, what: string): unknown {
  const typed = typedErrno(e, what);
  if (typed) return typed;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return e;
  const data = { errno: code };
  if (BUSY.has(code) || isRetryable(e)) return new TransientError(`${what} failed: ${code}`, data, { cause: e });
  return new ConfigError(`${what} failed: ${(e as Error).message.split('\n')[0]} (${code})`, data);
}
