// SFTP failures as typed errors: the SSH_FX_* status of a request (wire.ts), or a connection that went
// away under it. A status with no better name (FAILURE, OP_UNSUPPORTED, ...) is a ConfigError naming the
// operation and the server, never a plain Error. Authentication and host-key failures are decided where
// the connection is made (connections.ts).

import { AuthError, CkptError, ConfigError, NotFoundError, TransientError } from '../../src/remote/index.js';
import { SftpStatus } from './wire.js';

/** `where` is user@host:port, `displayUrl` the remote; `what` and `path` name the request. */
export function sftpError(e: unknown, what: string, path: string, where: string, displayUrl: string): Error {
  if (e instanceof CkptError) return e;
  const err = e as Error & { code?: unknown };
  const msg = err?.message ?? String(e);
  switch (err?.code) {
    case SftpStatus.NO_SUCH_FILE:
      return new NotFoundError(`not found on ${displayUrl}: ${path}`, { path });
    case SftpStatus.PERMISSION_DENIED:
      return new AuthError(`permission denied on ${where} to ${what} ${path}`, { path });
    case SftpStatus.NO_CONNECTION:
    case SftpStatus.CONNECTION_LOST:
      return new TransientError(`connection to ${where} lost during ${what} ${path}: ${msg}`, { path }, { cause: e });
  }
  if (typeof err?.code === 'number') return new ConfigError(`sftp ${what} ${path} on ${where} failed: ${msg} (SFTP status ${err.code})`, { path, sftpStatus: err.code });
  // No SFTP status: the channel or the connection under it went away (ssh2 says "No response from
  // server", "Channel not open", ECONNRESET...). Retrying on a fresh connection is the cure.
  return new TransientError(`connection to ${where} lost during ${what} ${path}: ${msg}`, { path }, { cause: e });
}
