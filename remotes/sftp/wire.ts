// Wire-level constants of the SFTP driver: SFTP v3 status codes (draft-ietf-secsh-filexfer-02, section 7)
// as ssh2 reports them in `err.code`, and the names the driver keeps beside objects on the server.

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

/** Marks temporary upload files (<file>.tmp-<random>); list() never shows them. */
export const TMP_MARK = '.tmp-';
/** Suffix of swapDocument's lock files (and `.stale-*` of locks being broken); never listed either. */
export const LOCK_SUFFIX = '.cas-lock';
