// The benchmark (`npm run bench`): ckptsync side by side with what users use today, on generated
// checkpoints, in one run. Prints a markdown table and writes .bench/results.json.
//
//   node dist/scripts/bench.js [--size MiB] [--layouts safetensors,pytorch,sharded]
//                              [--servers local,s3,sftp,webdav] [--quick] [--memory GiB] [--out FILE]
//                              [--small-files [N]]
//
// --quick: 128 MiB, servers local and webdav, no pytorch/sharded transfers. --memory N: only the peak
// RSS of add/push/pull of an N GiB safetensors file (local directory remote). --small-files [N]: only
// the small-files section (N files of 4 KiB in 100 folders, default 10,000; scripts/bench/small-files.ts).
// Every timed step starts after sync; the ingest steps also on a dropped page cache with their input
// read back in, when run as root (scripts/bench/measure.ts, settle). Every tool reads warm data alike.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHUNKER, chunkFile, cutKernel } from '../src/core/chunker.js';
import { cdcThreads } from '../src/core/cdc-parallel.js';
import { nativeStore } from '../src/core/store-chunk.js';
import { hashBytes } from '../src/core/hash.js';
import { REPO_DIR, Repository } from '../src/core/repo.js';
import { openRemoteFor } from '../src/api/remote.js';
import { push } from '../src/api/push.js';
import { add } from '../src/api/add.js';
import { addRemote } from '../src/api/remotes.js';
import type { LiveServer } from '../test/servers/types.js';
import { countingRemote } from './bench/counting-remote.js';
import { generate, LAYOUTS, sizeOf, type Dataset, type Layout } from './bench/datasets.js';
import { measure, processTreeCpu, settle, shellQuote, unsetForSteps, type Run } from './bench/measure.js';
import { smallFiles } from './bench/small-files.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin/run.js');
type ServerName = 'local' | 's3' | 'versitygw' | 'sftp' | 'webdav';

interface Flags {
  sizeMiB: number;
  layouts: Layout[];
  servers: ServerName[];
  memoryGiB: number;
  /** Files of the small-files section, 0 for none. */
  smallFiles: number;
  out: string;
  transfersAllLayouts: boolean;
}

function parseFlags(argv: string[]): Flags {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  return {
    sizeMiB: Number(get('--size') ?? (quick ? 128 : 1024)),
    layouts: (get('--layouts')?.split(',') as Layout[] | undefined) ?? LAYOUTS,
    servers: (get('--servers')?.split(',') as ServerName[] | undefined) ?? (quick ? ['local', 'webdav'] : ['local', 's3', 'versitygw', 'sftp', 'webdav']),
    memoryGiB: Number(get('--memory') ?? 0),
    smallFiles: argv.includes('--small-files') ? Number(/^\d+$/.test(get('--small-files') ?? '') ? get('--small-files') : 10000) : 0,
    out: path.resolve(get('--out') ?? path.join(ROOT, '.bench/results.json')),
    transfersAllLayouts: argv.includes('--transfers-all-layouts'),
  };
}

interface Row {
  section: string;
  what: string;
  ours: string;
  peer: string;
  ratio: string;
}

const rows: Row[] = [];
/** The small-files section's own table, when that section ran instead of the rest. */
let smallTable: string | undefined;
/** Whether the ingest steps ran on a dropped page cache (root only; see settle). */
let cachesDropped = false;
const results: Record<string, unknown> = {};
const mbps = (bytes: number, s: number) => bytes / 1e6 / s;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
/** Bytes a directory takes on disk (allocated blocks, du). */
const diskBytes = (dir: string) => Number(execFileSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' }).split('\t')[0]);
const MB = (b: number) => `${(b / 1e6).toFixed(b >= 1e8 ? 0 : 2)} MB`;

/**
 * Removes a directory of the run without taxing the next timed step. Deleting thousands of files makes
 * ext4 scan its recently deleted inodes on every file created in the next minutes (perf: 31% of an add's
 * CPU, add of 1 GiB 2.4 s instead of 1.5 s), a cost the peers (cp, rclone: one file) never pay. So while
 * the disk has room, directories are moved aside and deleted with the rest at the end of the run.
 */
let trash: { dir: string; n: number } | null = null;
async function discard(dir: string): Promise<void> {
  const free = await fs.statfs(path.dirname(dir)).then((st) => st.bavail * st.bsize, () => 0);
  if (!trash || free < 40 * 2 ** 30) return fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(trash.dir, { recursive: true });
  await fs.rename(dir, path.join(trash.dir, String(trash.n++))).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
}

function ckpt(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  // Run as the executable a user runs (its shebang sets Node's flags), with this Node first on PATH.
  const PATH = `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return measure(CLI, args, { cwd, env: { ...env, PATH, CKPTSYNC_NO_PROGRESS: '1' } });
}
function result<T>(r: Run): T {
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { result: T }).result;
}

async function startServers(names: ServerName[]): Promise<Map<ServerName, LiveServer | null>> {
  const m = new Map<ServerName, LiveServer | null>();
  for (const n of names) {
    if (n === 'local') m.set(n, null);
    else {
      const mod = (await import(`../test/servers/${n}.js`)) as { start(): Promise<LiveServer> };
      m.set(n, await mod.start());
    }
  }
  return m;
}

/** A remote location on a server: the URL and settings for ckptsync, and the matching rclone remote. */
function location(server: LiveServer | null, work: string, tag: string) {
  if (!server) {
    const dir = path.join(work, `remote-${tag}`);
    return { url: dir, settings: {} as Record<string, string>, env: {} as Record<string, string>, rclone: { config: '', remote: path.join(work, `rclone-${tag}`) } };
  }
  return { url: server.newUrl(), settings: server.settings, env: server.env, rclone: server.rclone() };
}

async function ingest(ds: Dataset, work: string): Promise<void> {
  const v1 = ds.versions[0].path;
  const quoted = shellQuote(v1);
  const isDir = ds.layout === 'sharded';
  const files = isDir ? `find ${quoted} -type f -print0 | xargs -0` : '';
  // Each timed step starts settled, with only its input in the page cache (see settle).
  cachesDropped = (await settle([v1])) || cachesDropped;
  const read = await measure('sh', ['-c', isDir ? `${files} cat >/dev/null` : `cat ${quoted} >/dev/null`]);
  const cpDest = path.join(work, 'cp-copy');
  await settle([v1]);
  const cp = await measure('cp', ['-r', v1, cpDest]);
  await discard(cpDest);
  await settle([v1]);
  const b3 = await measure('sh', ['-c', isDir ? `${files} b3sum >/dev/null` : `b3sum ${quoted} >/dev/null`]);
  const borgRepo = path.join(work, 'borg');
  const borgEnv = { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_BASE_DIR: path.join(work, 'borg-base'), BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
  await measure('borg', ['init', '-e', 'none', borgRepo], { env: borgEnv });
  await settle([v1]);
  const borg = await measure('borg', ['create', `${borgRepo}::v1`, v1], { env: borgEnv });
  await discard(borgRepo);

  const repo = path.join(work, ds.layout);
  await ckpt(['init'], repo);
  const adds: Run[] = [];
  for (const [i, v] of ds.versions.entries()) {
    await settle([v.path, path.join(repo, REPO_DIR)]);
    adds.push(await ckpt(['add', v.path, '--name', `m${i + 1}`, '--no-pointer', '--json'], repo));
  }
  const ours = mbps(ds.bytes, adds[0]!.seconds);
  const L = ds.layout;
  rows.push(
    { section: `ingest ${L}`, what: 'add v1 (MB/s) vs cp', ours: f1(ours), peer: f1(mbps(ds.bytes, cp.seconds)), ratio: f1(cp.seconds / adds[0]!.seconds) },
    { section: `ingest ${L}`, what: 'add v1 (MB/s) vs borg create', ours: f1(ours), peer: f1(mbps(ds.bytes, borg.seconds)), ratio: f1(borg.seconds / adds[0]!.seconds) },
    { section: `ingest ${L}`, what: 'add v1 (MB/s) vs b3sum', ours: f1(ours), peer: f1(mbps(ds.bytes, b3.seconds)), ratio: f1(b3.seconds / adds[0]!.seconds) },
    { section: `ingest ${L}`, what: 'add v1 (s) vs cp then b3sum (the work it does: a copy and a hash)', ours: f1(adds[0]!.seconds), peer: f1(cp.seconds + b3.seconds), ratio: f1((cp.seconds + b3.seconds) / adds[0]!.seconds) },
    { section: `ingest ${L}`, what: 'add v1 (MB/s) vs plain read (cat)', ours: f1(ours), peer: f1(mbps(ds.bytes, read.seconds)), ratio: f1(read.seconds / adds[0]!.seconds) },
    { section: `ingest ${L}`, what: 'add v2 / add v3 (s)', ours: `${f1(adds[1]!.seconds)} / ${f1(adds[2]!.seconds)}`, peer: '', ratio: '' },
    { section: `memory ${L}`, what: 'peak RSS add (MiB) vs cp / borg / b3sum', ours: f1(adds[0]!.rssMiB), peer: `${f1(cp.rssMiB)} / ${f1(borg.rssMiB)} / ${f1(b3.rssMiB)}`, ratio: '' },
  );
  results[`ingest.${L}`] = {
    bytes: ds.bytes,
    seconds: { add: adds.map((a) => a.seconds), cp: cp.seconds, borg: borg.seconds, b3sum: b3.seconds, read: read.seconds },
    rssMiB: { add: adds.map((a) => a.rssMiB), cp: cp.rssMiB, borg: borg.rssMiB, b3sum: b3.rssMiB },
    addResults: adds.map((a) => result(a)),
  };
}

async function transfers(ds: Dataset, work: string, servers: Map<ServerName, LiveServer | null>, timed: boolean): Promise<void> {
  const repo = path.join(work, ds.layout);
  const L = ds.layout;
  for (const [name, server] of servers) {
    if (!timed && name !== 'local') continue;
    const loc = location(server, work, `${L}-${name}`);
    const opts = Object.entries(loc.settings).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
    await ckpt(['remote', 'add', name, loc.url, ...opts], repo, loc.env);
    const pushes: Run[] = [];
    for (const m of ['m1', 'm2', 'm3']) {
      await settle(); // no dirty pages of the step before (sync)
      pushes.push(await ckpt(['push', m, '-r', name, '--json'], repo, loc.env));
    }
    const pr = pushes.map((p) => result<{ bytesUploaded: number; chunksUploaded: number; chunksTotal: number }>(p));
    const [, v2, v3] = ds.versions;
    if (name === 'local') {
      rows.push(
        { section: `bytes ${L}`, what: 'v2 uploaded vs changed (ideal); rclone/git-lfs move', ours: MB(pr[1]!.bytesUploaded), peer: `${MB(v2.changed)}; ${MB(ds.bytes)}`, ratio: f1(pr[1]!.bytesUploaded / v2.changed) },
        { section: `bytes ${L}`, what: 'v3 (sparse) uploaded vs changed (ideal); rclone/git-lfs move', ours: MB(pr[2]!.bytesUploaded), peer: `${MB(v3.changed)}; ${MB(ds.bytes)}`, ratio: f1(pr[2]!.bytesUploaded / v3.changed) },
        { section: `bytes ${L}`, what: 'chunks v1 / v2 new / v3 new', ours: `${pr[0]!.chunksTotal} / ${pr[1]!.chunksUploaded} / ${pr[2]!.chunksUploaded}`, peer: '', ratio: '' },
      );
    }
    const rec: Record<string, unknown> = { push: pushes.map((p) => ({ seconds: p.seconds, rssMiB: p.rssMiB })), pushResults: pr };
    if (timed) {
      // Pull v1 into a fresh repository, checked out to a file.
      const pullRepo = path.join(work, `pull-${L}-${name}`);
      await fs.mkdir(pullRepo, { recursive: true });
      await ckpt(['init'], pullRepo);
      await ckpt(['remote', 'add', name, loc.url, ...opts], pullRepo, loc.env);
      await settle();
      // The default pull keeps each byte once (the files hold the chunks; manifest-spec.md §7b): disk
      // after v1, then after v2 pulled over it (its unchanged chunks copied from v1's file).
      const srvCpu = async () => (server?.pid ? processTreeCpu(server.pid) : NaN);
      let cpu0 = await srvCpu();
      const pull = await ckpt(['pull', 'm1', '-r', name, '--to', path.join(pullRepo, 'out'), '--json'], pullRepo, loc.env);
      const pullServerCpu = (await srvCpu()) - cpu0;
      const diskV1 = diskBytes(pullRepo);
      await settle();
      const pullV2 = await ckpt(['pull', 'm2', '-r', name, '--to', path.join(pullRepo, 'out'), '--json'], pullRepo, loc.env);
      const pullV2r = result<{ bytesDownloaded: number; bytesSeeded: number }>(pullV2);
      const diskV2 = diskBytes(pullRepo);
      await discard(pullRepo);
      // pull --keep-copy: also a copy of every chunk in the store (the default before §7b).
      await fs.mkdir(pullRepo, { recursive: true });
      await ckpt(['init'], pullRepo);
      await ckpt(['remote', 'add', name, loc.url, ...opts], pullRepo, loc.env);
      await settle();
      const copy = await ckpt(['pull', 'm1', '-r', name, '--to', path.join(pullRepo, 'out'), '--keep-copy', '--json'], pullRepo, loc.env);
      const diskCopy = diskBytes(pullRepo);
      await discard(pullRepo);
      const disk = { v1: diskV1, v2OverV1: diskV2, keepCopy: diskCopy, bytes: ds.bytes, changedV2: v2.changed };
      if (name === 'local') {
        // resolve: the shared cache, v1 then v2 of the name (two snapshots: a returned path never changes).
        const cacheDir = path.join(work, `cache-${L}`);
        const cacheEnv = { ...loc.env, CKPTSYNC_CACHE: cacheDir };
        await settle();
        const res1 = await ckpt(['resolve', 'm1', '-r', loc.url, '--json'], work, cacheEnv);
        const cacheV1 = diskBytes(cacheDir);
        await settle();
        const res2 = await ckpt(['resolve', 'm2', '-r', loc.url, '--json'], work, cacheEnv);
        const cacheV2 = diskBytes(cacheDir);
        const r2 = result<{ bytesDownloaded: number }>(res2);
        await discard(cacheDir);
        rows.push(
          { section: `disk ${L}`, what: 'resolve v1: cache on disk / checkpoint size; s', ours: `${f2(cacheV1 / ds.bytes)}x; ${f1(res1.seconds)}`, peer: '', ratio: '' },
          { section: `disk ${L}`, what: 'resolve v2 after v1: cache on disk / (v1 + v2); MB downloaded; s', ours: `${f2(cacheV2 / (2 * ds.bytes))}x; ${MB(r2.bytesDownloaded)}; ${f1(res2.seconds)}`, peer: '', ratio: '' },
        );
        Object.assign(disk, { resolveV1: cacheV1, resolveV2: cacheV2, resolveSeconds: [res1.seconds, res2.seconds], resolveV2Downloaded: r2.bytesDownloaded });
      }
      rows.push(
        { section: `disk ${L}`, what: `pull v1 ← ${name}: repository on disk / checkpoint size (--keep-copy)`, ours: `${f2(diskV1 / ds.bytes)}x`, peer: `${f2(diskCopy / ds.bytes)}x`, ratio: '' },
        { section: `disk ${L}`, what: `pull v2 over v1 ← ${name}: repository on disk / (v1 + v2's changed bytes)`, ours: `${f2(diskV2 / (ds.bytes + v2.changed))}x`, peer: '', ratio: '' },
      );
      // rclone copy of the same bytes up to the same server, then down again.
      const cfg = path.join(work, 'rclone.conf');
      await fs.writeFile(cfg, loc.rclone.config);
      // rclone's S3 backend cannot combine a custom CA bundle with its own transport; loopback is plain HTTP.
      const rcloneEnv = { ...loc.env, AWS_CA_BUNDLE: '' };
      await settle();
      const up = await measure('rclone', ['--config', cfg, 'copy', ds.versions[0].path, loc.rclone.remote], { env: rcloneEnv });
      const down = path.join(work, `rclone-down-${L}-${name}`);
      const base = ds.layout === 'sharded' ? '' : path.basename(ds.versions[0].path);
      await settle();
      cpu0 = await srvCpu();
      const dl = await measure('rclone', ['--config', cfg, 'copy', loc.rclone.remote + (base ? `/${base}` : ''), down], { env: rcloneEnv });
      const rcloneServerCpu = (await srvCpu()) - cpu0;
      // rclone updating that copy to v2 in place, the peer of our pull of v2 over v1: v2 goes up to a
      // second location (not timed), then comes down over v1's file. --ignore-times: same sizes, and
      // rclone must not skip on a modification time it cannot compare; it moves whole files anyway.
      const remoteV2 = `${loc.rclone.remote}-v2`;
      await measure('rclone', ['--config', cfg, 'copy', ds.versions[1].path, remoteV2], { env: rcloneEnv });
      await settle();
      const dlV2 = await measure('rclone', ['--config', cfg, 'copy', '--ignore-times', remoteV2 + (base ? `/${base}` : ''), down], { env: rcloneEnv });
      await discard(down);
      if (!server) for (const r of [loc.rclone.remote, remoteV2]) await discard(r);
      rows.push(
        { section: `transfer ${L}`, what: `push v1 → ${name} (MB/s) vs rclone copy`, ours: f1(mbps(ds.bytes, pushes[0]!.seconds)), peer: f1(mbps(ds.bytes, up.seconds)), ratio: f1(up.seconds / pushes[0]!.seconds) },
        { section: `transfer ${L}`, what: `pull v1 ← ${name} (MB/s) vs rclone copy`, ours: f1(mbps(ds.bytes, pull.seconds)), peer: f1(mbps(ds.bytes, dl.seconds)), ratio: f1(dl.seconds / pull.seconds) },
        { section: `transfer ${L}`, what: `pull v1 ← ${name}: CPU-s of the server, and of the client (user+sys) vs rclone copy's`, ours: `${f2(pullServerCpu)}, ${f2(pull.cpuSeconds)}`, peer: `${f2(rcloneServerCpu)}, ${f2(dl.cpuSeconds)}`, ratio: '' },
        { section: `transfer ${L}`, what: `pull v1 --keep-copy ← ${name} (MB/s) vs rclone copy`, ours: f1(mbps(ds.bytes, copy.seconds)), peer: f1(mbps(ds.bytes, dl.seconds)), ratio: f1(dl.seconds / copy.seconds) },
        { section: `transfer ${L}`, what: `pull v2 over v1 ← ${name}: s (MB downloaded / read from v1's file) vs rclone copy of v2 over v1`, ours: `${f1(pullV2.seconds)} (${MB(pullV2r.bytesDownloaded)} / ${MB(pullV2r.bytesSeeded)})`, peer: f1(dlV2.seconds), ratio: f1(dlV2.seconds / pullV2.seconds) },
        { section: `transfer ${L}`, what: `push v2 → ${name} (s) vs rclone copy of the whole file`, ours: f1(pushes[1]!.seconds), peer: f1(up.seconds), ratio: f1(pushes[1]!.seconds / up.seconds) },
        { section: `memory ${L}`, what: `peak RSS push / pull / pull --keep-copy ${name} (MiB) vs rclone up / down`, ours: `${f1(pushes[0]!.rssMiB)} / ${f1(pull.rssMiB)} / ${f1(copy.rssMiB)}`, peer: `${f1(up.rssMiB)} / ${f1(dl.rssMiB)}`, ratio: '' },
      );
      const ing = results[`ingest.${L}`] as { seconds: { cp: number; b3sum: number } } | undefined;
      if (name === 'local' && ing) {
        const work = ing.seconds.cp + ing.seconds.b3sum;
        rows.push({ section: `transfer ${L}`, what: 'pull v1 ← local (s) vs cp then b3sum of the file', ours: f1(pull.seconds), peer: f1(work), ratio: f1(work / pull.seconds) });
      }
      Object.assign(rec, { disk, pull: { seconds: pull.seconds, rssMiB: pull.rssMiB, cpuSeconds: pull.cpuSeconds, serverCpuSeconds: pullServerCpu, v2: { seconds: pullV2.seconds, ...pullV2r } }, pullKeepCopy: { seconds: copy.seconds, rssMiB: copy.rssMiB }, rclone: { up: up.seconds, down: dl.seconds, downV2OverV1: dlV2.seconds, upRssMiB: up.rssMiB, downRssMiB: dl.rssMiB, downCpuSeconds: dl.cpuSeconds, downServerCpuSeconds: rcloneServerCpu } });
    }
    results[`transfer.${L}.${name}`] = rec;
  }
}

/** A push with nothing to do, with 100 names on the remote: CLI wall time, and requests counted in-process. */
async function noopPush(ds: Dataset, work: string, servers: Map<ServerName, LiveServer | null>): Promise<void> {
  const repoDir = path.join(work, ds.layout);
  const repo = await Repository.find(repoDir);
  const smallDir = path.join(repoDir, 'small');
  await fs.mkdir(smallDir, { recursive: true });
  for (const [name, server] of servers) {
    const saved = { ...process.env };
    Object.assign(process.env, server?.env ?? {});
    try {
      const { remote } = await openRemoteFor(repo, name);
      try {
        for (let i = 0; i < 97; i++) {
          const f = path.join(smallDir, `n${i}.bin`);
          await fs.writeFile(f, `small checkpoint ${i}\n`.repeat(100));
          const a = await add({ repo, path: f, name: `names/n${i}`, pointer: false });
          await push({ repo, target: a.name, remote });
        }
        const counted = countingRemote(remote);
        const t0 = process.hrtime.bigint();
        const r = await push({ repo, target: 'm1', remote: counted.remote });
        const inProc = Number(process.hrtime.bigint() - t0) / 1e9;
        if (r.chunksUploaded !== 0) throw new Error('the no-op push uploaded chunks');
        const cli = await ckpt(['push', 'm1', '-r', name, '--json'], repoDir, server?.env ?? {});
        rows.push({ section: 'no-op push', what: `push with nothing to do, 100 names on ${name}: s (CLI) / requests`, ours: `${f1(cli.seconds)} / ${counted.total()}`, peer: '', ratio: '' });
        results[`noop.${name}`] = { cliSeconds: cli.seconds, inProcessSeconds: inProc, requests: counted.counts };
      } finally {
        await remote.close();
      }
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }
}

/** FastCDC alone (the fallback for unknown formats): chunking only, and chunking + BLAKE3, in this process. */
async function fastcdcAlone(file: string, bytes: number): Promise<void> {
  await measure('sh', ['-c', `cat ${shellQuote(file)} >/dev/null`]); // warm, like every other tool
  let t0 = process.hrtime.bigint();
  let n = 0;
  for await (const c of chunkFile(file, DEFAULT_CHUNKER)) n += c.data.length;
  const chunkOnly = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  for await (const c of chunkFile(file, DEFAULT_CHUNKER)) hashBytes(c.data);
  const withHash = Number(process.hrtime.bigint() - t0) / 1e9;
  if (n !== bytes) throw new Error('fastcdc lost bytes');
  rows.push({ section: 'fastcdc', what: `FastCDC chunking only / chunking + BLAKE3 (MB/s, ${cutKernel} kernel, ${cdcThreads()} scan threads)`, ours: `${f1(mbps(bytes, chunkOnly))} / ${f1(mbps(bytes, withHash))}`, peer: '', ratio: '' });
  results.fastcdc = { bytes, chunkOnlySeconds: chunkOnly, chunkAndHashSeconds: withHash, kernel: cutKernel, scanThreads: cdcThreads() };
}

async function memoryCheck(gib: number, work: string): Promise<void> {
  const { writeSafetensors, transformerLayout } = await import('../fixtures/generate.js');
  const repoDir = path.join(work, `mem-${gib}`);
  const file = path.join(repoDir, 'model.safetensors');
  await writeSafetensors(file, { tensors: transformerLayout(gib * 2 ** 30) });
  const bytes = await sizeOf(file);
  await ckpt(['init'], repoDir);
  const addRun = await ckpt(['add', file, '--name', 'm', '--no-pointer', '--json'], repoDir);
  const remoteDir = path.join(work, `mem-${gib}-remote`);
  await ckpt(['remote', 'add', 'r', remoteDir], repoDir);
  const pushRun = await ckpt(['push', 'm', '-r', 'r', '--json'], repoDir);
  await fs.rm(repoDir, { recursive: true, force: true }); // disk: at 16 GiB, four copies would not fit
  const pullDir = path.join(work, `mem-${gib}-pull`);
  await fs.mkdir(pullDir);
  await ckpt(['init'], pullDir);
  await ckpt(['remote', 'add', 'r', remoteDir], pullDir);
  const pullRun = await ckpt(['pull', 'm', '-r', 'r', '--to', path.join(pullDir, 'out'), '--json'], pullDir);
  const pullDisk = diskBytes(pullDir);
  await fs.rm(pullDir, { recursive: true, force: true });
  const cacheDir = path.join(work, `mem-${gib}-cache`);
  const resolveRun = await ckpt(['resolve', 'm', '-r', remoteDir, '--json'], work, { CKPTSYNC_CACHE: cacheDir });
  const cacheDisk = diskBytes(cacheDir);
  for (const d of [repoDir, remoteDir, cacheDir]) await fs.rm(d, { recursive: true, force: true });
  rows.push({
    section: `memory ${gib} GiB`,
    what: 'peak RSS add / push / pull / resolve, local dir remote (MiB)',
    ours: `${f1(addRun.rssMiB)} / ${f1(pushRun.rssMiB)} / ${f1(pullRun.rssMiB)} / ${f1(resolveRun.rssMiB)}`,
    peer: `${f1(mbps(bytes, addRun.seconds))} / ${f1(mbps(bytes, pushRun.seconds))} / ${f1(mbps(bytes, pullRun.seconds))} / ${f1(mbps(bytes, resolveRun.seconds))} MB/s`,
    ratio: '',
  });
  rows.push({ section: `disk ${gib} GiB`, what: 'after pull / resolve: repository / cache on disk vs checkpoint size', ours: `${f2(pullDisk / bytes)}x / ${f2(cacheDisk / bytes)}x`, peer: '', ratio: '' });
  results[`memory.${gib}GiB`] = { bytes, add: addRun, push: pushRun, pull: pullRun, resolve: resolveRun, disk: { pull: pullDisk, resolve: cacheDisk } };
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function table(): string {
  const lines = ['| section | measure | ckptsync | peer | ratio (>1: ckptsync better, bytes: ours/ideal) |', '| --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.section} | ${r.what} | ${r.ours} | ${r.peer} | ${r.ratio} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  for (const f of (await fs.readdir(path.join(ROOT, 'scripts/deps.d'))).filter((x) => x.endsWith('.sh')).sort()) {
    execFileSync('bash', [path.join(ROOT, 'scripts/deps.d', f)], { stdio: 'inherit' });
  }
  execFileSync('sh', [path.join(ROOT, 'scripts/bench/peers.sh')], { stdio: 'inherit' });
  // .bench is not in a fresh clone: mkdtemp makes only the last component.
  await fs.mkdir(path.join(ROOT, '.bench'), { recursive: true });
  const work = await fs.mkdtemp(path.join(ROOT, '.bench/work-'));
  trash = { dir: path.join(work, '.trash'), n: 0 };
  const started = Date.now();
  try {
    if (flags.memoryGiB > 0) {
      await memoryCheck(flags.memoryGiB, work);
    } else if (flags.smallFiles > 0) {
      const r = await smallFiles({ files: flags.smallFiles, size: 4096, rounds: 1 });
      smallTable = r.table;
      results.smallFiles = r.steps;
    } else {
      const servers = await startServers(flags.servers);
      try {
        for (const layout of flags.layouts) {
          process.stderr.write(`bench: ${layout} ${flags.sizeMiB} MiB\n`);
          const ds = await generate(path.join(work, layout), layout, flags.sizeMiB * 2 ** 20);
          // The datasets live inside the layout's repository (ckptsync adds paths inside a repository).
          await fs.mkdir(path.join(work, layout), { recursive: true });
          await ingest(ds, work);
          if (layout === 'safetensors') await fastcdcAlone(ds.versions[0].path, ds.bytes);
          await transfers(ds, work, servers, layout === 'safetensors' || flags.transfersAllLayouts);
          if (layout === 'safetensors') await noopPush(ds, work, servers);
          process.stderr.write(`${table()}\n`); // partial results, in case a later step fails
          await discard(path.join(work, layout));
        }
      } finally {
        for (const s of servers.values()) await s?.stop();
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  const out = smallTable ?? table();
  const header = `Machine: ${machine()}. Data: ${flags.memoryGiB > 0 ? `${flags.memoryGiB} GiB` : flags.smallFiles > 0 ? `${flags.smallFiles} small files` : `${flags.sizeMiB} MiB`} generated checkpoints; ${((Date.now() - started) / 1000).toFixed(0)} s in all. Timed steps start after sync${cachesDropped ? '; ingest steps on a dropped page cache with their input read back in' : ''}. add stores new files ${nativeStore ? 'through the addon (it is built)' : 'through user-space writes (the addon is not built)'}.${unsetForSteps.length ? ` Unset for every step: ${unsetForSteps.join(', ')} (scripts/bench/measure.ts says why).` : ''}`;
  console.log(`${header}\n\n${out}`);
  await fs.mkdir(path.dirname(flags.out), { recursive: true });
  let prev: Record<string, unknown> = {};
  try {
    prev = JSON.parse(await fs.readFile(flags.out, 'utf8')) as Record<string, unknown>;
  } catch {}
  const key = flags.memoryGiB > 0 ? `memory-${flags.memoryGiB}GiB` : flags.smallFiles > 0 ? `small-files-${flags.smallFiles}` : `run-${flags.sizeMiB}MiB`;
  await fs.writeFile(flags.out, JSON.stringify({ ...prev, [key]: { machine: machine(), date: new Date().toISOString(), header, table: out, results } }, null, 2));
  console.log(`\nwrote ${flags.out}`);
}

await main();
