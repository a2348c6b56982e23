// Wire-level constants and types of the SFTP driver: SFTP v3 status codes (draft-ietf-secsh-filexfer-02,
// section 7) as ssh2 reports them in `err.code`, and the resolved connection settings.

/** SSH_FX_* status codes. ssh2 puts them, as numbers, in the `code` of an SFTP request's error. */
export const SftpStatus = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  /** OpenSSH's sftp-server answers FAILURE for EEXIST (an exclusive create or mkdir that lost). */
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
  /** SFTP v5+ servers say this where OpenSSH says FAILURE. */
  FILE_ALREADY_EXISTS: 11,
} as const;

export type HostKeyPolicy = 'strict' | 'accept-new';

/** Everything needed to reach one location on one SSH server, after ~/.ssh/config was applied. */
export interface SftpConfig {
  /** The host as written in the URL (a ~/.ssh/config alias, or a real name). */
  alias: string;
  /** The host to dial (HostName from ~/.ssh/config, or the alias). */
  host: string;
  port: number;
  username: string;
  /** Root directory on the server: absolute, or relative to the login directory when it came as /~/... */
  root: string;
  /** Key files to try, in order; missing default files are skipped, a missing explicit one is an error. */
  identityFiles: { path: string; explicit: boolean }[];
  passphrase?: string;
  password?: string;
  /** ssh-agent socket, when one is to be used. */
  agent?: string;
  knownHostsFile: string;
  hostKeyPolicy: HostKeyPolicy;
  /** SSH connections to open at most, and SFTP sessions (channels) on each. */
  connections: number;
  sessionsPerConnection: number;
  /** A swapDocument lock older than this (by the server's clock) is taken to be abandoned. */
  lockStaleMs: number;
  /** A connection silent this long (keepalives unanswered) is dropped, failing its requests with TransientError. */
  timeoutMs: number;
  /** The URL without secrets. */
  displayUrl: string;
}
