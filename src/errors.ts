// Typed errors. Every error a user can see has a literal code, an exit code from the table below
// (documented in README "Exit codes"; never reuse a number) and a message they can act on.
// Retry decisions ask isRetryable(), never the message text.

export const ExitCode = {
  ok: 0,
  failure: 1, // unexpected internal error
  usage: 2, // bad flags, arguments or input
  notFound: 3, // name, object, path or remote key missing
  auth: 4, // credentials missing or refused
  integrity: 5, // hash mismatch, corrupt object or manifest
  conflict: 6, // a remote name moved concurrently (our update is kept in history only), or a local edit would be overwritten
  lockHeld: 7, // another process holds the lock
  transient: 8, // network or server failure that outlived the retries
  config: 9, // repository, remote or configuration problem
  noSpace: 10, // no space left on a disk, a remote or a quota
  partsIncomplete: 11, // commit of a version whose parts have not all been pushed
  partsOverlap: 12, // two parts of one version hold the same file
  cancelled: 130, // SIGINT / SIGTERM
} as const;

export type ErrorCode =
  | 'USAGE'
  | 'NOT_FOUND'
  | 'AUTH'
  | 'INTEGRITY'
  | 'REF_CONFLICT'
  | 'WORKTREE_CONFLICT'
  | 'LOCK_HELD'
  | 'TRANSIENT'
  | 'CONFIG'
  | 'UNSAFE_PATH'
  | 'CANCELLED'
  | 'HOST_KEY'
  | 'NO_SPACE'
  | 'PARTS_INCOMPLETE'
  | 'PARTS_OVERLAP';

export class CkptError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly data: Record<string, unknown>;
  constructor(code: ErrorCode, exitCode: number, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.data = data;
  }
}

export class UsageError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('USAGE', ExitCode.usage, message, data);
  }
}

export class NotFoundError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('NOT_FOUND', ExitCode.notFound, message, data, options);
  }
}

export class AuthError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('AUTH', ExitCode.auth, message, data, options);
  }
}

/** A host key that is unknown or changed (SSH). Not retryable; the user must decide. */
export class HostKeyError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('HOST_KEY', ExitCode.auth, message, data);
  }
}

export class IntegrityError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('INTEGRITY', ExitCode.integrity, message, data);
  }
}

export class RefConflictError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('REF_CONFLICT', ExitCode.conflict, message, data);
  }
}

/** pull or checkout would overwrite a file that was changed locally (--force to replace it). */
export class WorktreeConflictError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('WORKTREE_CONFLICT', ExitCode.conflict, message, data);
  }
}

export class LockHeldError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('LOCK_HELD', ExitCode.lockHeld, message, data);
  }
}

/** A failure that may succeed when tried again: 5xx, 429, connection reset, timeout. */
export class TransientError extends CkptError {
  /** Server-suggested wait before the next try (Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown; retryAfterMs?: number }) {
    super('TRANSIENT', ExitCode.transient, message, data, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export class ConfigError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('CONFIG', ExitCode.config, message, data);
  }
}

export class UnsafePathError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('UNSAFE_PATH', ExitCode.usage, message, data);
  }
}

/** A disk, remote or quota is full. Not retryable: space must be freed first. */
export class NoSpaceError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('NO_SPACE', ExitCode.noSpace, message, data);
  }
}

/** `commit NAME --parts M` found parts of the version not pushed yet (manifest-spec.md §8b). */
export class PartsIncompleteError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('PARTS_INCOMPLETE', ExitCode.partsIncomplete, message, data);
  }
}

/** Two parts of one version hold the same path: the merge is refused and the name does not move (§8b). */
export class PartsOverlapError extends CkptError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('PARTS_OVERLAP', ExitCode.partsOverlap, message, data);
  }
}

export class CancelledError extends CkptError {
  constructor(message = 'cancelled') {
    super('CANCELLED', ExitCode.cancelled, message);
  }
}

const transientErrnos = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * The typed error for a file-system failure (an errno error from node:fs), or null when its code says
 * nothing the user can act on. `what` names the object, e.g. "writing manifests/ab.. on file:///srv/r";
 * defaults to the error's path.
 */
export function typedErrno(err: unknown, what?: string): CkptError | null {
  if (err instanceof CkptError) return err;
  const e = err as NodeJS.ErrnoException | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (!code || !e) return null;
  const on = what ?? (typeof e.path === 'string' ? e.path : e.syscall ?? 'a file');
  const data = { errno: code, ...(e.path ? { path: e.path } : {}) };
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`not found: ${on}`, data, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new AuthError(`permission denied: ${on} (${code})`, data, { cause: err });
    case 'EROFS':
      return new AuthError(`read-only file system: ${on} (EROFS)`, data, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new NoSpaceError(`no space left on device: ${on} (${code})`, data);
    case 'ENAMETOOLONG':
      return new UsageError(`file name too long for the file system: ${on} (ENAMETOOLONG)`, data);
    case 'EISDIR':
      return new UsageError(`a directory is where a file was expected: ${on} (EISDIR)`, data);
    case 'ENOTDIR':
    case 'EEXIST':
      return new UsageError(`a file is where a directory was expected: ${on} (${code})`, data);
    default:
      return null;
  }
}

/** True when trying the same operation again may succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof CkptError) return false;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && transientErrnos.has(code);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof NotFoundError || (err as { code?: unknown })?.code === 'ENOENT';
}

/** One line for the user: the message with any credentials removed. */
export function errorLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return redactSecrets(msg.split('\n')[0] ?? msg);
}

/** Removes userinfo passwords from URLs and common secret query parameters in free text. */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]*)@/gi, '$1$2:***@')
    .replace(/((?:X-Amz-Signature|X-Amz-Credential|Signature|password|token|secret)=)[^&\s]+/gi, '$1***');
}
