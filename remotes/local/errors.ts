// File-system failures of a directory remote as typed errors naming the key and the remote (README,
// "Exit codes"): EACCES -> AuthError, ENOSPC -> NoSpaceError, ..., and any other errno a ConfigError
// (remotes/kit/files.ts), never an untyped error.

import { LockHeldError } from '../../src/remote/index.js';
import { fsError } from '../kit/files.js';

export function localError(e: unknown, op: string, key: string, displayUrl: string): unknown {
  return fsError(e, `${op} ${key || '/'} on ${displayUrl}`);
}

/** proper-lockfile gave up waiting: another writer holds the document. */
export function lockError(e: unknown, lockPath: string): unknown {
  if ((e as { code?: string }).code === 'ELOCKED') return new LockHeldError(`${lockPath} is locked by another writer that has held it for over 45 s`);
  return e;
}
