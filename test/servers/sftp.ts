// A live SFTP server for tests and benchmarks: Debian's OpenSSH sshd in the foreground (`sshd -D -e`)
// on 127.0.0.1, with a generated host key, a generated user key in a temp HOME (~/.ssh/id_ed25519,
// ~/.ssh/known_hosts), an AuthorizedKeysFile in the temp dir and a temp dir as the remote root
// (installed by scripts/deps.d/sftp.sh). It logs in as the user running the tests (root in CI, hence
// PermitRootLogin prohibit-password; StrictModes no because the files live under /tmp).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './faultproxy.js';
import type { LiveServer } from './types.js';
import { stopServer } from './child.js';

export interface SftpLiveServer extends LiveServer {
  /** The temp HOME (also env.HOME) holding .ssh/id_ed25519 and .ssh/known_hosts. */
  home: string;
  user: string;
  /** Directory on the server under which newUrl() locations live. */
  root: string;
  /** The server's public host key, as "ssh-ed25519 AAAA...". */
  hostKey: string;
  /** Generates a key pair (encrypted when a passphrase is given); authorized unless told otherwise. Returns the private key path. */
  newUserKey(opts?: { passphrase?: string; authorized?: boolean }): Promise<string>;
  /** Records the host key for another port of 127.0.0.1 (a fault proxy in front of the server) in known_hosts. */
  trustPort(port: number): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

export async function start(): Promise<SftpLiveServer> {
  if (!existsSync(SSHD)) throw new Error('sshd not installed: run scripts/deps.d/sftp.sh');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-sftp-'));
  const home = path.join(dir, 'home');
  const sshDir = path.join(home, '.ssh');
  const root = path.join(dir, 'root');
  await fs.mkdir(sshDir, { recursive: true, mode: 0o700 });
  await fs.mkdir(root, { recursive: true });
  // sshd refuses to start without its privilege-separation directory (the deps script makes it too).
  if (process.getuid?.() === 0) await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const keygen = async (file: string, passphrase = '') => {
    // Few KDF rounds for encrypted keys: the default 16 take a second or two to decrypt.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '4', '-N', passphrase, '-C', 'ckptsync-test', '-f', file], { stdio: 'pipe' });
    return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
  };
  const hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
  const hostKey = (await keygen(hostKeyFile)).split(' ').slice(0, 2).join(' ');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await fs.writeFile(authorizedKeys, (await keygen(path.join(sshDir, 'id_ed25519'))) + '\n', { mode: 0o600 });

  const port = await freePort();
  const knownHosts = path.join(sshDir, 'known_hosts');
  const trustPort = (p: number) => fs.appendFile(knownHosts, `[127.0.0.1]:${p} ${hostKey}\n`, { mode: 0o600 });
  await trustPort(port);

  const conf = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyFile}`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    // The driver opens a few connections with several SFTP channels each; tests open many remotes.
    'MaxSessions 32',
    'MaxStartups 200:30:400',
    'MaxAuthTries 10',
    'Subsystem sftp internal-sftp',
    'LogLevel ERROR',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'sshd_config');
  await fs.writeFile(confFile, conf);

  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => (stderr = (stderr + b).slice(-10_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`sshd exited at start: ${stderr}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }

  const user = os.userInfo().username;
  const location = () => `${root}/ckpt-${crypto.randomBytes(6).toString('hex')}`;
  let keys = 0;
  return {
    port,
    pid: child.pid,
    home,
    user,
    root,
    hostKey,
    // No agent: the temp HOME's key is the one to use, whatever agent the test runner has.
    env: { HOME: home, SSH_AUTH_SOCK: '' },
    settings: {},
    newUrl: () => `sftp://${user}@127.0.0.1:${port}${location()}`,
    rclone: () => ({
      config: [
        '[srv]',
        'type = sftp',
        'host = 127.0.0.1',
        `port = ${port}`,
        `user = ${user}`,
        `key_file = ${path.join(sshDir, 'id_ed25519')}`,
        `known_hosts_file = ${knownHosts}`,
        '',
      ].join('\n'),
      remote: `srv:${location()}`,
    }),
    trustPort,
    async newUserKey(opts = {}) {
      const file = path.join(dir, `user-key-${keys++}`);
      const pub = await keygen(file, opts.passphrase ?? '');
      if (opts.authorized !== false) await fs.appendFile(authorizedKeys, pub + '\n');
      return file;
    },
    stop: () => stopServer(child, exited, dir),
  };
}
