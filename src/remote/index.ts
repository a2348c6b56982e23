// The remote protocol, as drivers see it. A driver imports from here and nothing else of the core.
export * from './types.js';
export * from './layout.js';
export * from './source.js';
export * from './registry.js';
export * from './retry.js';
export {
  AuthError,
  CkptError,
  ConfigError,
  HostKeyError,
  IntegrityError,
  LockHeldError,
  NoSpaceError,
  NotFoundError,
  TransientError,
  UsageError,
  isRetryable,
  typedErrno,
  redactSecrets,
} from '../errors.js';
export { readFully, writevAll } from '../core/file-io.js';
export { minorCollectionEvery } from '../core/reclaim.js';
