// Configuration of an SFTP remote: the URL (sftp://[user[:password]@]host[:port]/path, sftp://host/~/path)
// after ~/.ssh/config is applied, and the options table, which drives `remote options sftp`, refuses
// unknown options and marks passphrase and password secret.

import os from 'node:os';
import path from 'node:path/posix';
import { UsageError, redactSecrets, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';
import { Options } from '../kit/options.js';
import { expandPath, localUser, readSshConfig, sshSettingsFor } from './ssh-config.js';

export const options = [
  { name: 'identityFile', help: 'Private key file (default: IdentityFile of ~/.ssh/config, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)' },
  { name: 'passphrase', help: 'Passphrase of an encrypted key (default: $CKPTSYNC_SSH_PASSPHRASE)', secret: true },
  { name: 'password', help: 'Password, when the server allows it (default: $CKPTSYNC_SSH_PASSWORD, or the URL\'s)', secret: true },
  { name: 'agent', help: 'ssh-agent socket; "none" to not use one (default: $SSH_AUTH_SOCK)' },
  { name: 'knownHostsFile', help: 'known_hosts file that host keys are checked against', default: '~/.ssh/known_hosts' },
  { name: 'hostKeyPolicy', help: 'strict: refuse unknown host keys; accept-new: record unknown keys (never changed ones)', default: 'strict' },
  { name: 'connections', help: 'SSH connections to open at most', default: 2 },
  { name: 'sessionsPerConnection', help: 'SFTP sessions per connection (OpenSSH allows 10)', default: 4 },
  { name: 'lockStaleMs', help: 'Age after which a compare-and-swap lock is taken to be abandoned', default: 30_000 },
  { name: 'timeoutSeconds', help: 'A connection that answers nothing (not even keepalives) for this long is dropped and the request retried', default: 45 },
] as const satisfies readonly RemoteOption[];

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

export function parseConfig(url: string, settings: RemoteSettings = {}): SftpConfig {
  const o = new Options('sftp', options, settings);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not an sftp URL: ${redactSecrets(url)} (expected sftp://[user@]host[:port]/path)`);
  }
  if (u.protocol !== 'sftp:' || !u.hostname) throw new UsageError(`not an sftp URL: ${redactSecrets(url)} (expected sftp://[user@]host[:port]/path)`);
  if (u.search || u.hash) throw new UsageError(`sftp URLs take no query or fragment: ${redactSecrets(url)}`);
  const alias = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const home = os.homedir(); // $HOME first, as ssh does
  const ssh = sshSettingsFor(readSshConfig(home), alias);
  const host = ssh.hostName ? ssh.hostName.replace(/%h/g, alias) : alias;
  const port = u.port ? Number(u.port) : (ssh.port ?? 22);
  const username = (u.username && decodeURIComponent(u.username)) || ssh.user || localUser();
  const ctx = { home, host, port, user: username };

  let root = decodeURIComponent(u.pathname);
  if (root === '/~' || root.startsWith('/~/')) root = root.slice(3);
  root = root.replace(/\/+$/, '') || (root.startsWith('/') ? '/' : '');
  if (root.split('/').includes('..')) throw new UsageError(`remote path may not contain "..": ${redactSecrets(url)}`);

  const explicit = o.string('identityFile');
  const identityFiles = explicit
    ? [{ path: expandPath(explicit, ctx), explicit: true }]
    : [
        ...ssh.identityFiles.map((f) => ({ path: expandPath(f, ctx), explicit: true })),
        ...['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => ({ path: path.join(home, '.ssh', f), explicit: false })),
      ];

  const policy = o.string('hostKeyPolicy') ?? (ssh.strictHostKeyChecking === 'accept-new' ? 'accept-new' : 'strict');
  if (policy !== 'strict' && policy !== 'accept-new') throw new UsageError(`hostKeyPolicy must be strict or accept-new, not ${JSON.stringify(policy)}`);
  const agent = o.string('agent') ?? process.env.SSH_AUTH_SOCK;

  return {
    alias,
    host,
    port,
    username,
    root,
    identityFiles,
    passphrase: o.string('passphrase') ?? process.env.CKPTSYNC_SSH_PASSPHRASE,
    password: o.string('password') ?? process.env.CKPTSYNC_SSH_PASSWORD ?? (u.password ? decodeURIComponent(u.password) : undefined),
    agent: agent && agent !== 'none' ? agent : undefined,
    knownHostsFile: expandPath(o.string('knownHostsFile') ?? ssh.userKnownHostsFile ?? '~/.ssh/known_hosts', ctx),
    hostKeyPolicy: policy as HostKeyPolicy,
    connections: o.int('connections', 2, 1, 16),
    sessionsPerConnection: o.int('sessionsPerConnection', 4, 1, 10),
    lockStaleMs: o.int('lockStaleMs', 30_000, 1000, 3_600_000),
    timeoutMs: o.int('timeoutSeconds', 45, 1, 3600) * 1000,
    displayUrl: redactSecrets(url).replace(/:\*\*\*@/, '@'),
  };
}
