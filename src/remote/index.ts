// The remote protocol, as drivers see it. A driver imports from here and from its kit (remotes/kit/),
// nothing else of src/.
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
