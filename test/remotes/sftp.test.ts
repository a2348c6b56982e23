import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import { startFaultProxy, type FaultProxy } from '../servers/faultproxy.js';
import { start, type SftpLiveServer } from '../servers/sftp.js';
import sftpRemote from '../../remotes/sftp/index.js';
import { AuthError, HostKeyError, TransientError } from '../../src/errors.js';
import type { Remote, RemoteSettings } from '../../src/remote/types.js';

let srv: SftpLiveServer;
let proxy: FaultProxy;
// Every remote goes through the fault proxy, so that any of them can be made to lose its connection.
const viaProxy = (url: string) => url.replace(`:${srv.port}/`, `:${proxy.port}/`);
const openUrl = (url: string, settings: RemoteSettings = {}) => sftpRemote.create(sftpRemote.parse(url, settings));
const opened: Remote[] = [];
const track = async (p: Promise<Remote>) => {
  const r = await p;
  opened.push(r);
  return r;
};

runRemoteConformance(test, {
  name: 'sftp',
  putCreatesLocation: true,
  async start() {
    srv = await start();
    // The driver reads ~/.ssh like ssh does; this process plays the user of the temp HOME, with no agent.
    process.env.HOME = srv.home;
    delete process.env.SSH_AUTH_SOCK;
    proxy = await startFaultProxy(srv.port);
    await srv.trustPort(proxy.port);
    const urls = new Map<Remote, string>();
    const openAt = async (url: string) => {
      const r = await openUrl(url);
      urls.set(r, url);
      return r;
    };
    return {
      target: {
        open: (sameAs) => openAt(sameAs ? urls.get(sameAs)! : viaProxy(srv.newUrl())),
        openMissing: () => openAt(`${viaProxy(srv.newUrl())}/missing/deep`),
        openWithBadCredentials: async () => openUrl(viaProxy(srv.newUrl()), { identityFile: await srv.newUserKey({ authorized: false }) }),
        injectTransientFailures: async (n) => proxy.failNext(n, 'reset'),
      },
      async stop() {
        await Promise.allSettled(opened.map((r) => r.close()));
        await proxy.stop();
        await srv.stop();
      },
    };
  },
});

/** A known_hosts file of its own for a test, with the given lines. */
async function knownHosts(name: string, lines: string[]): Promise<string> {
  const file = path.join(srv.home, `known_hosts-${name}`);
  await fs.writeFile(file, lines.map((l) => l + '\n').join(''));
  return file;
}

test.serial('sftp › a changed host key is refused with one clear HostKeyError line, even with accept-new', async (t) => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(srv.home, 'impostor')]);
  const fake = (await fs.readFile(path.join(srv.home, 'impostor.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  const file = await knownHosts('changed', [`[127.0.0.1]:${srv.port} ${fake}`]);
  for (const hostKeyPolicy of ['strict', 'accept-new']) {
    const err = await t.throwsAsync(() => track(openUrl(srv.newUrl(), { knownHostsFile: file, hostKeyPolicy })), { instanceOf: HostKeyError });
    t.notRegex(err!.message, /\n/);
    t.regex(err!.message, new RegExp(`\\[127\\.0\\.0\\.1\\]:${srv.port}.*CHANGED.*SHA256:[A-Za-z0-9+/]{43}.*ssh-keygen -R`));
  }
  t.is(await fs.readFile(file, 'utf8'), `[127.0.0.1]:${srv.port} ${fake}\n`, 'a changed key is never recorded');
});

test.serial('sftp › an unknown host is refused by default, accepted and recorded with hostKeyPolicy=accept-new', async (t) => {
  const file = await knownHosts('unknown', []);
  const err = await t.throwsAsync(() => track(openUrl(srv.newUrl(), { knownHostsFile: file })), { instanceOf: HostKeyError });
  t.regex(err!.message, /unknown .*SHA256:.*hostKeyPolicy=accept-new/);
  t.notRegex(err!.message, /\n/);
  const r = await track(openUrl(srv.newUrl(), { knownHostsFile: file, hostKeyPolicy: 'accept-new' }));
  t.is(await r.stat('chunks/00/none'), null);
  t.is(await fs.readFile(file, 'utf8'), `[127.0.0.1]:${srv.port} ${srv.hostKey}\n`);
  // Now known: the default policy connects.
  await t.notThrowsAsync(() => track(openUrl(srv.newUrl(), { knownHostsFile: file })));
});

test.serial('sftp › hashed known_hosts entries are understood', async (t) => {
  const file = await knownHosts('hashed', [`[127.0.0.1]:${srv.port} ${srv.hostKey}`]);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'pipe' });
  t.regex(await fs.readFile(file, 'utf8'), /^\|1\|/);
  await t.notThrowsAsync(() => track(openUrl(srv.newUrl(), { knownHostsFile: file })));
});

test.serial('sftp › a refused key or a wrong password gives AuthError', async (t) => {
  const stranger = await srv.newUserKey({ authorized: false });
  await t.throwsAsync(() => track(openUrl(srv.newUrl(), { identityFile: stranger })), { instanceOf: AuthError });
  await t.throwsAsync(() => track(openUrl(srv.newUrl(), { identityFile: stranger, password: 'wrong' })), { instanceOf: AuthError });
});

test.serial('sftp › a key held by ssh-agent is used first', async (t) => {
  const sock = path.join(srv.home, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 50 && !(await fs.stat(sock).catch(() => null)); i++) await new Promise((r) => setTimeout(r, 20));
    execFileSync('ssh-add', ['-q', await srv.newUserKey()], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'pipe' });
    // The key file given is refused: only the agent's key can let us in.
    const r = await track(openUrl(srv.newUrl(), { agent: sock, identityFile: await srv.newUserKey({ authorized: false }) }));
    t.is(await r.stat('refs/x.ref'), null);
  } finally {
    agent.kill();
  }
});

test.serial('sftp › an encrypted key is used with the passphrase from CKPTSYNC_SSH_PASSPHRASE', async (t) => {
  const key = await srv.newUserKey({ passphrase: 'correct horse' });
  const err = await t.throwsAsync(() => track(openUrl(srv.newUrl(), { identityFile: key })), { instanceOf: AuthError });
  t.regex(err!.message, /encrypted: set CKPTSYNC_SSH_PASSPHRASE/);
  process.env.CKPTSYNC_SSH_PASSPHRASE = 'correct horse';
  try {
    const r = await track(openUrl(srv.newUrl(), { identityFile: key }));
    t.is(await r.stat('refs/x.ref'), null);
  } finally {
    delete process.env.CKPTSYNC_SSH_PASSPHRASE;
  }
});

test.serial('sftp › a Host alias of ~/.ssh/config gives host, port, user and key', async (t) => {
  const key = await srv.newUserKey();
  const config = path.join(srv.home, '.ssh', 'config');
  await fs.writeFile(config, `Host ckpt-box\n  HostName 127.0.0.1\n  Port ${srv.port}\n  User ${srv.user}\n  IdentityFile ${key}\n`);
  try {
    const r = await track(openUrl(`sftp://ckpt-box${srv.root}/alias`));
    t.is(await r.stat('refs/x.ref'), null);
  } finally {
    await fs.rm(config);
  }
});

test.serial('sftp › a dead connection gives TransientError and the next operation reconnects', async (t) => {
  const r = await track(openUrl(viaProxy(srv.newUrl())));
  proxy.failNext(1, 'reset');
  await t.throwsAsync(() => r.stat('chunks/00/x'), { instanceOf: TransientError });
  t.is(await r.stat('chunks/00/x'), null);
});

test.serial('sftp › swapDocument breaks an abandoned lock after lockStaleMs and waits for a live one', async (t) => {
  const url = srv.newUrl();
  const r = await track(openUrl(url, { lockStaleMs: '1000' }));
  const key = 'refs/stale.ref';
  const v0 = await r.swapDocument(key, Buffer.from('a'), null);
  // The server is local, so the test can play a writer that crashed (an old lock) or is slow (a fresh one).
  const lock = path.join(new URL(url).pathname, `${key}.cas-lock`);
  await fs.writeFile(lock, 'crashed writer');
  const old = new Date(Date.now() - 3600_000);
  await fs.utimes(lock, old, old);
  // Events, not durations (a loaded machine stretches any of them): the abandoned lock is broken and the
  // swap goes through; a live lock, kept fresh as its writer would, is waited for until it is released.
  t.truthy(await r.swapDocument(key, Buffer.from('b'), v0), 'an abandoned lock is broken');
  t.is((await r.readDocument(key))!.data.toString(), 'b');
  // A second client whose stale limit no delay of this test can reach, so the lock stays live until removed.
  const patient = await track(openUrl(url, { lockStaleMs: '600000' }));
  await fs.writeFile(lock, 'live writer');
  let released = false;
  setTimeout(() => void fs.rm(lock).then(() => (released = true)), 400);
  t.truthy(await patient.swapDocument(key, Buffer.from('c'), (await patient.readDocument(key))!.version));
  t.true(released, 'the swap waited for the live lock to be released');
  t.is((await r.readDocument(key))!.data.toString(), 'c');
  await t.throwsAsync(() => fs.stat(lock), { code: 'ENOENT' });
  const listed: string[] = [];
  for await (const o of r.list('refs/')) listed.push(o.key);
  t.deepEqual(listed, [key], 'no temp, lock or stale files are listed');
  t.deepEqual((await fs.readdir(path.dirname(lock))).sort(), ['stale.ref'], 'nothing is left behind');
});
