// Many machines, one version (manifest-spec.md §8b): four writers, each a separate `node bin/run.js`
// process in its own network namespace (a veth pair to the root namespace, 10.x addresses made here and
// removed after), each holding its own files of a sharded checkpoint, push their parts at the same moment
// to one S3 server (moto: it honours conditional writes) and one SFTP server (OpenSSH). The servers listen
// on 127.0.0.1 as every test server does; a TCP relay bound to each veth's root-side address carries the
// writers' connections to them, so each writer reaches the servers only through its own network stack.
// Where namespaces cannot be made (not root, no `ip`), the writers run as four processes on loopback and
// the test title says so.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { connect } from '../../src/api/remote.js';
import { prefixOf } from '../../src/remote/layout.js';
import type { Remote } from '../../src/remote/types.js';
import { readRemoteRef } from '../../src/sync/refs.js';
import { cliPath, ok, tempDir, treeOf, type CliResult } from '../helpers.js';
import { start as startMoto } from '../servers/moto.js';
import { start as startSftp, type SftpLiveServer } from '../servers/sftp.js';
import type { LiveServer } from '../servers/types.js';

const M = 4;
const tag = crypto.randomBytes(2).toString('hex');
const subnet = 100 + (crypto.randomBytes(1)[0]! % 100); // 10.<subnet>.<k>.0/24

/** Why namespaces cannot be used here, or null when they can. */
function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `ckpt-${tag}-probe`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `ip netns add failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0]}`;
  }
}
const noNetns = netnsUnavailable();

interface Host {
  /** The namespace, or null on the loopback fallback. */
  ns: string | null;
  /** The root-side veth (whose rx counter is the bytes this writer sent), or null. */
  vethRoot: string | null;
  /** The address the writer uses for the servers: the root side of its veth, or 127.0.0.1. */
  serverAddr: string;
  relays: net.Server[];
}

const ipq = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

function makeHost(k: number): Host {
  if (noNetns) return { ns: null, vethRoot: null, serverAddr: '127.0.0.1', relays: [] };
  const ns = `ckpt-${tag}-w${k}`;
  const a = `ck${tag}a${k}`;
  const b = `ck${tag}b${k}`;
  ipq('netns', 'add', ns);
  ipq('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
  ipq('link', 'set', b, 'netns', ns);
  ipq('addr', 'add', `10.${subnet}.${k}.1/24`, 'dev', a);
  ipq('link', 'set', a, 'up');
  ipq('netns', 'exec', ns, 'ip', 'addr', 'add', `10.${subnet}.${k}.2/24`, 'dev', b);
  ipq('netns', 'exec', ns, 'ip', 'link', 'set', b, 'up');
  ipq('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  return { ns, vethRoot: a, serverAddr: `10.${subnet}.${k}.1`, relays: [] };
}

function removeHost(h: Host): void {
  for (const r of h.relays) r.close();
  if (h.vethRoot) execFileSync('ip', ['link', 'del', h.vethRoot], { stdio: 'ignore' });
  if (h.ns) execFileSync('ip', ['netns', 'del', h.ns], { stdio: 'ignore' });
}

/** Carries connections to `addr:port` (a veth address) on to the server at 127.0.0.1:port. */
async function relay(h: Host, port: number): Promise<void> {
  if (!h.ns) return;
  const server = net.createServer((inbound) => {
    const out = net.connect(port, '127.0.0.1');
    inbound.pipe(out).pipe(inbound);
    const end = () => {
      inbound.destroy();
      out.destroy();
    };
    inbound.on('error', end);
    out.on('error', end);
    inbound.on('close', end);
    out.on('close', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, h.serverAddr, resolve));
  h.relays.push(server);
}

/** Rank k's files of checkpoint `step` (rank 0 also writes the coordinator's .metadata). */
async function writeRank(dir: string, k: number, step: string, size: number): Promise<void> {
  await fs.mkdir(path.join(dir, 'model'), { recursive: true });
  const block = crypto.createHash('sha512').update(`${step}/${k}`).digest();
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 64) crypto.createHash('sha512').update(block).update(String(i)).digest().copy(data, i);
  await fs.writeFile(path.join(dir, `__${k}_0.distcp`), data);
  await fs.writeFile(path.join(dir, 'model', `layer_${k}.opt`), `optimizer state of rank ${k} at ${step}`);
  if (k === 0) await fs.writeFile(path.join(dir, '.metadata'), `dcp metadata for ${step}`);
}

interface Writer {
  child: ChildProcess;
  done: Promise<CliResult>;
}

/** `ckptsync push DIR --name NAME --part k/M` as a separate process inside host h's namespace. */
function pushPartProcess(h: Host, repo: string, data: string, name: string, k: number, env: Record<string, string>): Writer {
  const argv = [cliPath, 'push', data, '--name', name, '--part', `${k}/${M}`, '--attempt', 'job1', '--json'];
  const [cmd, args] = h.ns ? ['ip', ['netns', 'exec', h.ns, process.execPath, ...argv]] : [process.execPath, argv];
  const child = spawn(cmd as string, args as string[], { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const r: CliResult = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      try {
        r.json = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
      } catch {}
      resolve(r);
    });
  });
  return { child, done };
}

async function listKeys(remote: Remote, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of remote.list(prefix)) out.push(o.key);
  return out.sort();
}

/** Bytes host h has sent towards the servers so far (the root side's receive counter). */
const sentBy = (h: Host) => Number(fsSync.readFileSync(`/sys/class/net/${h.vethRoot}/statistics/rx_bytes`, 'utf8'));

async function scenario(t: import('ava').ExecutionContext, live: LiveServer, hosts: Host[]): Promise<void> {
  const root = await tempDir('ckpt-parts-netns-');
  const url = live.newUrl();
  for (const h of hosts) await relay(h, live.port);
  const sftp = live as SftpLiveServer;
  if (sftp.hostKey && sftp.home) {
    // The writers reach the SSH server at their veth address: record its host key there too.
    for (const h of hosts) if (h.ns) await fs.appendFile(path.join(sftp.home, '.ssh', 'known_hosts'), `[${h.serverAddr}]:${live.port} ${sftp.hostKey}\n`);
  }
  const at = (addr: string, s: string) => s.split('127.0.0.1').join(addr);
  // Each writer's environment (an S3 endpoint variable too) names the server by its veth address.
  const envOf = (h: Host) => Object.fromEntries(Object.entries(live.env).map(([key, v]) => [key, at(h.serverAddr, v)]));
  // One repository per writer, its remote at the address its namespace reaches the server by.
  const repos: string[] = [];
  for (const [k, h] of hosts.entries()) {
    const repo = path.join(root, `writer${k}`);
    await fs.mkdir(repo);
    await ok(['init'], { cwd: repo });
    const opts = Object.entries(live.settings).flatMap(([key, v]) => ['-o', `${key}=${at(h.serverAddr, v)}`]);
    await ok(['remote', 'add', 'origin', at(h.serverAddr, url), ...opts], { cwd: repo, env: envOf(h) });
    repos.push(repo);
  }
  const reader = path.join(root, 'reader');
  await fs.mkdir(reader);
  await ok(['init'], { cwd: reader });
  await ok(['remote', 'add', 'origin', url, ...Object.entries(live.settings).flatMap(([key, v]) => ['-o', `${key}=${v}`])], { cwd: reader, env: live.env });
  const saved = { ...process.env };
  Object.assign(process.env, live.env);
  const remote = await connect({ url, settings: live.settings });
  try {
    // 1. Four writers at the same moment: one merged manifest, the name moves once, the union pulls back.
    const data = hosts.map((_, k) => path.join(root, `data${k}`, 'step-100'));
    for (const [k, d] of data.entries()) await writeRank(d, k, 'step-100', 3 << 20);
    const writers = hosts.map((h, k) => pushPartProcess(h, repos[k]!, data[k]!, 'ck/step-100', k, envOf(h)));
    const results = await Promise.all(writers.map((w) => w.done));
    for (const r of results) t.is(r.code, 0, r.stderr);
    const parts = results.map((r) => r.json.result);
    t.deepEqual(parts.map((p) => p.part).sort(), [0, 1, 2, 3]);
    const merged = new Set(parts.filter((p) => p.complete).map((p) => p.manifest));
    t.is(merged.size, 1, 'every writer that completed the version merged the same manifest');
    // The name moved once: one entry in its history (below). A writer says `changed` when its own entry
    // is there; two completers on one host in the same millisecond could both say so, hence at least one.
    t.true(parts.filter((p) => p.changed).length >= 1, 'the writer that moved it says so');
    const ref = (await readRemoteRef(remote, 'ck/step-100'))!.doc;
    t.is(ref.target, [...merged][0]);
    t.deepEqual(ref.history.map((e) => e.kind), ['set']);
    const partManifests = new Set(parts.map((p) => p.partManifest));
    t.deepEqual(await listKeys(remote, prefixOf('manifest')), [...partManifests, ref.target].map((h) => `manifests/${h}`).sort(), 'four part manifests and exactly one version manifest');
    await ok(['pull', 'ck/step-100', '--to', path.join(reader, 'out100')], { cwd: reader, env: live.env });
    const union: Record<string, string> = {};
    for (const d of data) Object.assign(union, await treeOf(d));
    t.deepEqual(await treeOf(path.join(reader, 'out100')), union);
    t.is(Object.keys(union).length, 2 * M + 1);

    // 2. Writer 3 is killed mid-push: the name does not move. Rerunning its part moves it.
    const data2 = hosts.map((_, k) => path.join(root, `data${k}`, 'step-200'));
    for (const [k, d] of data2.entries()) await writeRank(d, k, 'step-200', k === 3 ? 48 << 20 : 2 << 20);
    const slow = hosts[3]!;
    // Writer 3's link is slowed so that it is still sending when we kill it; without namespaces it is
    // killed once it has read part of its file instead.
    if (slow.ns) ipq('netns', 'exec', slow.ns, 'tc', 'qdisc', 'add', 'dev', `ck${tag}b3`, 'root', 'tbf', 'rate', '40mbit', 'burst', '64kb', 'latency', '400ms');
    const base3 = slow.vethRoot ? sentBy(slow) : 0;
    const writers2 = hosts.map((h, k) => pushPartProcess(h, repos[k]!, data2[k]!, 'ck/step-200', k, envOf(h)));
    const victim = writers2[3]!;
    let victimExited = false;
    void victim.done.then(() => (victimExited = true));
    const readBytes = () => Number(/rchar: (\d+)/.exec(fsSync.readFileSync(`/proc/${victim.child.pid}/io`, 'utf8'))?.[1] ?? 0);
    // The event: writer 3 has sent 4 MiB of its 48 (or, on loopback, read its file once to chunk it and
    // begun reading it again to upload).
    while (!victimExited && (slow.vethRoot ? sentBy(slow) - base3 < 4 << 20 : readBytes() < 60 << 20)) await new Promise((r) => setTimeout(r, 10));
    t.false(victimExited, 'writer 3 was still pushing when it was killed');
    victim.child.kill('SIGKILL');
    const killed = await victim.done;
    t.is(killed.code, 128, 'writer 3 died by the signal');
    const others = await Promise.all(writers2.slice(0, 3).map((w) => w.done));
    for (const r of others) {
      t.is(r.code, 0, r.stderr);
      t.false(r.json.result.complete);
      t.true(r.json.result.waitingFor.includes(3), 'each waits at least for the killed part');
    }
    t.is(await readRemoteRef(remote, 'ck/step-200'), null, 'the name did not move');
    t.deepEqual(await listKeys(remote, 'parts/ck/step-200/'), [0, 1, 2].map((k) => `parts/ck/step-200/@job1/${k}-of-4`), 'no record of the killed part');
    const shown = await ok(['ls', '-r', 'origin', 'ck/step-200', '--json'], { cwd: reader, env: live.env });
    t.deepEqual(shown.json.result.map((r: any) => [r.name, r.incomplete]), [['ck/step-200', { attempt: 'job1', parts: 4, waitingFor: [3] }]]);

    if (slow.ns) ipq('netns', 'exec', slow.ns, 'tc', 'qdisc', 'del', 'dev', `ck${tag}b3`, 'root');
    const rerun = await pushPartProcess(slow, repos[3]!, data2[3]!, 'ck/step-200', 3, envOf(slow)).done;
    t.is(rerun.code, 0, rerun.stderr);
    t.true(rerun.json.result.complete);
    t.true(rerun.json.result.changed);
    const ref2 = (await readRemoteRef(remote, 'ck/step-200'))!.doc;
    t.is(ref2.target, rerun.json.result.manifest);
    t.deepEqual(ref2.history.map((e) => e.kind), ['set']);
    await ok(['pull', 'ck/step-200', '--to', path.join(reader, 'out200')], { cwd: reader, env: live.env });
    const union2: Record<string, string> = {};
    for (const d of data2) Object.assign(union2, await treeOf(d));
    t.deepEqual(await treeOf(path.join(reader, 'out200')), union2);
  } finally {
    await remote.close();
    for (const k of Object.keys(live.env)) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
    for (const h of hosts) {
      for (const r of h.relays) r.close();
      h.relays = [];
    }
    await fs.rm(root, { recursive: true, force: true });
  }
}

const where = noNetns ? `4 processes on loopback (network namespaces unavailable: ${noNetns})` : 'each in its own network namespace';

for (const [label, startServer] of [
  ['S3 (moto)', startMoto],
  ['SFTP (OpenSSH)', startSftp],
] as const) {
  test.serial(`${label}: 4 writers ${where} push their parts at once: one manifest, the name moves once, the union pulls back; a writer killed mid-push leaves the name, its rerun moves it`, async (t) => {
    const live = await startServer();
    const hosts: Host[] = [];
    try {
      for (let k = 0; k < M; k++) hosts.push(makeHost(k));
      await scenario(t, live, hosts);
    } finally {
      for (const h of hosts) removeHost(h);
      await live.stop();
    }
  });
}
