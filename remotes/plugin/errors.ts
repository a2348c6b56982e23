// The plugin's error codes (docs/remote-plugin-protocol.md, "Errors") as ckptsync's typed errors.

import { AuthError, ConfigError, NotFoundError, TransientError, UsageError } from '../../src/remote/index.js';
import type { WireError } from './wire.js';

export function errorFromPlugin(e: WireError | undefined): Error {
  const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : `remote plugin failed (${code})`;
  switch (code) {
    case 'NOT_FOUND':
      return new NotFoundError(message);
    case 'AUTH':
      return new AuthError(message);
    case 'TRANSIENT':
      return new TransientError(message, {}, { retryAfterMs: typeof e?.retryAfterMs === 'number' ? e.retryAfterMs : undefined });
    case 'USAGE':
      return new UsageError(message);
    case 'CONFIG':
      return new ConfigError(message);
    default:
      // An unknown code is the plugin's own failure: a remote problem the user must look at, not retried.
      return new ConfigError(`remote plugin failed (${code}): ${message}`, { pluginCode: code });
  }
}
