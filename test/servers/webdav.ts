// A live WebDAV server for tests and benchmarks: Debian's Apache httpd with mod_dav_fs, in the
// foreground, with a minimal self-contained config in a temp dir (installed by scripts/deps.d/webdav.sh).
// The share sits under a Nextcloud-style base path so that arbitrary base paths are exercised, behind
// basic auth; credentials reach clients through a ~/.netrc in a temp HOME (env.HOME).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './faultproxy.js';
import type { LiveServer } from './types.js';
import { stopServer } from './child.js';

export const WEBDAV_USER = 'tester';
/** The base path of the share, as a Nextcloud/ownCloud "webdisk" would have it. */
export const WEBDAV_BASE = `/remote.php/dav/files/${WEBDAV_USER}`;

export interface WebdavLiveServer extends LiveServer {
  /** The password in the temp ~/.netrc (tests check it never leaks). */
  password: string;
  /** The temp HOME holding .netrc (also env.HOME). */
  home: string;
}

const MODULES = ['mpm_event', 'authz_core', 'authn_core', 'authn_file', 'auth_basic', 'authz_user', 'alias', 'dav', 'dav_fs'];

export interface WebdavTls {
  /** PEM of the throwaway CA that signed the server's certificate (for the driver's caFile). */
  caFile: string;
}

/**
 * Starts Apache; with `tls`, over https only (mod_ssl), with a certificate for 127.0.0.1 signed by a
 * throwaway CA made here with the openssl CLI, and URLs become webdavs://.
 */
export async function start(opts: { tls?: boolean } = {}): Promise<WebdavLiveServer & { tls?: WebdavTls }> {
  const apache = ['/usr/sbin/apache2', '/usr/sbin/httpd'].find((p) => existsSync(p));
  if (!apache) throw new Error('apache2 not installed: run scripts/deps.d/webdav.sh');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-webdav-'));
  const docroot = path.join(dir, 'htdocs');
  const varDir = path.join(dir, 'var');
  const home = path.join(dir, 'home');
  await Promise.all([docroot, varDir, home].map((d) => fs.mkdir(d, { recursive: true })));
  const password = crypto.randomBytes(12).toString('base64url');
  // {SHA} hashes are accepted by mod_authn_file; no need for htpasswd at test time.
  const sha = crypto.createHash('sha1').update(password).digest('base64');
  await fs.writeFile(path.join(dir, 'htpasswd'), `${WEBDAV_USER}:{SHA}${sha}\n`);
  await fs.writeFile(path.join(home, '.netrc'), `machine 127.0.0.1\n  login ${WEBDAV_USER}\n  password ${password}\n`, { mode: 0o600 });

  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const tls = opts.tls ? await makeCertificates(dir) : undefined;
  const moduleDir = '/usr/lib/apache2/modules';
  const conf = [
    `ServerRoot "${dir}"`,
    `ServerName 127.0.0.1`,
    `Listen 127.0.0.1:${port}`,
    ...MODULES.map((m) => `LoadModule ${m}_module ${moduleDir}/mod_${m}.so`),
    ...(tls
      ? [
          `LoadModule ssl_module ${moduleDir}/mod_ssl.so`,
          'SSLEngine on',
          `SSLCertificateFile "${dir}/tls/server.pem"`,
          `SSLCertificateKeyFile "${dir}/tls/server.key"`,
          'SSLSessionCache none',
        ]
      : []),
    // Apache started as root drops to User/Group; those must be able to write the share.
    ...(asRoot ? ['User www-data', 'Group www-data'] : []),
    `PidFile "${varDir}/httpd.pid"`,
    `DefaultRuntimeDir "${varDir}"`,
    `ErrorLog "${dir}/error.log"`,
    'LogLevel warn',
    // Enough workers for 32+ parallel transfers plus the listing and lock traffic.
    'StartServers 2',
    'ServerLimit 4',
    'ThreadsPerChild 64',
    'MaxRequestWorkers 256',
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 30',
    'LimitRequestBody 0',
    `DavLockDB "${varDir}/davlock"`,
    `DocumentRoot "${docroot}"`,
    `Alias ${WEBDAV_BASE} "${docroot}"`,
    `<Directory "${docroot}">`,
    '  Dav On',
    '  AuthType Basic',
    '  AuthName "ckptsync test"',
    `  AuthUserFile "${dir}/htpasswd"`,
    '  Require valid-user',
    '</Directory>',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'httpd.conf');
  await fs.writeFile(confFile, conf);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'www-data']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'www-data']).toString().trim());
    await fs.chmod(dir, 0o755);
    await fs.chown(docroot, uid, gid);
    await fs.chown(varDir, uid, gid);
  }

  const child: ChildProcess = spawn(apache, ['-DFOREGROUND', '-f', confFile, '-d', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => (stderr += b));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(async () => {
        const log = await fs.readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
        throw new Error(`apache2 exited at start: ${stderr}${log}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    port,
    pid: child.pid,
    password,
    home,
    env: { HOME: home },
    settings: {},
    ...(tls ? { tls } : {}),
    newUrl: () => `${tls ? 'webdavs' : 'webdav'}://127.0.0.1:${port}${WEBDAV_BASE}/ckpt-${crypto.randomBytes(6).toString('hex')}`,
    rclone: () => ({
      config: [
        '[srv]',
        'type = webdav',
        `url = ${tls ? 'https' : 'http'}://127.0.0.1:${port}${WEBDAV_BASE}`,
        'vendor = other',
        `user = ${WEBDAV_USER}`,
        `pass = ${rcloneObscure(password)}`,
        '',
      ].join('\n'),
      remote: `srv:ckpt-${crypto.randomBytes(6).toString('hex')}`,
    }),
    stop: () => stopServer(child, exited, dir),
  };
}

// rclone config files hold passwords "obscured" (AES-256-CTR under a fixed, public key; not a
// secret, only against shoulder-surfing): rclone's fs/config/obscure.
const RCLONE_KEY = Buffer.from('9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638', 'hex');
export function rcloneObscure(plain: string): string {
  const iv = crypto.randomBytes(16);
  const c = crypto.createCipheriv('aes-256-ctr', RCLONE_KEY, iv);
  return Buffer.concat([iv, c.update(plain, 'utf8'), c.final()]).toString('base64url');
}

/** A throwaway CA and a certificate for 127.0.0.1 it signed (P-256 keys, valid for a day), in dir/tls. */
async function makeCertificates(dir: string): Promise<WebdavTls> {
  const d = path.join(dir, 'tls');
  await fs.mkdir(d);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=ckptsync test CA');
  ssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await fs.writeFile(path.join(d, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext');
  await fs.chmod(path.join(d, 'server.key'), 0o644); // read by Apache's workers too
  return { caFile: path.join(d, 'ca.pem') };
}
