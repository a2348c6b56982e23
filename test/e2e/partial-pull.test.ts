// Partial pulls through the real binary, against the loopback S3 server behind a proxy that counts what
// the server sends: `pull --include` writes only the matching files of a directory checkpoint, and
// `pull --tensors` a safetensors file of only the matching tensors; neither downloads chunks of anything
// else (manifest-spec.md §10d).

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { largeTensor, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { DEFAULT_SAFETENSORS_CHUNKER } from '../../src/core/chunker.js';
import { manifestChunks } from '../../src/core/manifest.js';
import { Repository } from '../../src/core/repo.js';
import { parseHeader } from '../../src/core/safetensors.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { cli, findFiles, ok, tempDir } from '../helpers.js';
import { startFaultProxy, type FaultProxy } from '../servers/faultproxy.js';
import * as s3 from '../servers/s3.js';
import type { LiveServer } from '../servers/types.js';

let live: LiveServer;
let proxy: FaultProxy;
let url: string;
let a: string;

const sha = async (f: string) => crypto.createHash('sha256').update(await fs.readFile(f)).digest('hex');
const env = () => live.env;

async function repo(): Promise<string> {
  const dir = await tempDir('ckpt-partial-');
  const opts = Object.entries({ ...live.settings, endpoint: `http://127.0.0.1:${proxy.port}` }).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  await ok(['init'], { cwd: dir, env: env() });
  await ok(['remote', 'add', 'origin', url, ...opts], { cwd: dir, env: env() });
  return dir;
}

/** Runs the CLI and returns what the server sent meanwhile. */
async function counted(args: string[], cwd: string) {
  const before = proxy.bytesToClient;
  const r = await ok(args, { cwd, env: env() });
  return { r, served: proxy.bytesToClient - before };
}

/** Chunk bytes (each distinct chunk once) of the named files of a manifest. */
function chunkBytesOf(files: { path: string; chunks: readonly string[]; sizes: readonly number[] }[]): { hashes: Set<string>; bytes: number } {
  const m = manifestChunks({ format: 1, type: 'dir', files: files as never });
  return { hashes: new Set(m.keys()), bytes: [...m.values()].reduce((x, y) => x + y, 0) };
}

test.before(async () => {
  live = await s3.start();
  proxy = await startFaultProxy(live.port);
  url = live.newUrl();
  a = await repo();
  // Four ranks' shards of ~4 MiB, a config beside them; and one model file whose big tensor spans chunks.
  for (let i = 0; i < 4; i++) await writeSafetensors(path.join(a, 'ckpt', `shard-${i}.safetensors`), { seed: `rank${i}`, tensors: transformerLayout(4 << 20) });
  await fs.writeFile(path.join(a, 'ckpt', 'config.json'), '{"hidden": 256}\n');
  await fs.writeFile(path.join(a, 'ckpt', '.metadata'), 'a file name that is not a valid name segment\n');
  await ok(['add', 'ckpt', '--name', 'run/step-1'], { cwd: a, env: env() });
  await ok(['push', 'run/step-1'], { cwd: a, env: env() });
  const big = largeTensor('model.big.weight', 3 * DEFAULT_SAFETENSORS_CHUNKER.avg);
  await writeSafetensors(path.join(a, 'm.safetensors'), { seed: 'slice', tensors: [...transformerLayout(16 << 20), big] });
  await ok(['add', 'm.safetensors', '--name', 'm/v1'], { cwd: a, env: env() });
  await ok(['push', 'm/v1'], { cwd: a, env: env() });
});

test.after.always(async () => {
  await proxy?.stop();
  await live?.stop();
});

test.serial('pull --include writes only the matching files and downloads no chunk of the others', async (t) => {
  const b = await repo();
  const { r, served } = await counted(['pull', 'run/step-1', '--include', 'shard-2.safetensors', '--include', '*.json', '--to', 'ckpt', '--json'], b);
  t.deepEqual(r.json.result.partial, { files: 2, filesTotal: 6 });
  t.deepEqual((await fs.readdir(path.join(b, 'ckpt'))).sort(), ['config.json', 'shard-2.safetensors']);
  for (const f of ['config.json', 'shard-2.safetensors']) t.is(await sha(path.join(b, 'ckpt', f)), await sha(path.join(a, 'ckpt', f)), f);

  const repoB = await Repository.find(b);
  const m = await loadManifest(repoB, r.json.result.manifest);
  const wanted = chunkBytesOf(m.files.filter((f) => f.path === 'shard-2.safetensors' || f.path === 'config.json'));
  const others = chunkBytesOf(m.files.filter((f) => f.path.startsWith('shard-') && f.path !== 'shard-2.safetensors'));
  t.is(r.json.result.bytesDownloaded, wanted.bytes);
  // The chosen files' chunks are kept only in them, the placed index naming exactly those files (§7b), and
  // the server sent those plus small documents (the name, the manifest, HTTP headers): far less than one
  // other shard's chunks.
  t.deepEqual(await findFiles(path.join(b, '.ckptsync', 'objects'), ''), []);
  const placed = await repoB.placed.read();
  t.deepEqual(Object.keys(placed), ['ckpt']);
  t.deepEqual(Object.keys(placed.ckpt!.files).sort(), ['config.json', 'shard-2.safetensors']);
  for (const h of wanted.hashes) t.truthy(await repoB.placed.find(h), `chunk ${h} is found in the written files`);
  t.log(`--include: the server sent ${served} bytes for ${wanted.bytes} bytes of chosen chunks (the other shards: ${others.bytes})`);
  t.true(served >= wanted.bytes, `served ${served} < wanted ${wanted.bytes}`);
  t.true(served < wanted.bytes + others.bytes / 3 / 4, `served ${served} bytes for ${wanted.bytes} wanted: chunks of other files were downloaded`);
  t.is(await repoB.readRef('run/step-1'), null, 'a partial pull does not name the whole checkpoint locally');
  // A second partial pull of the same version into the same folder adds its files to the index entry.
  await ok(['pull', 'run/step-1', '--include', 'shard-3.safetensors', '--to', 'ckpt'], { cwd: b, env: env() });
  t.deepEqual(Object.keys((await repoB.placed.read()).ckpt!.files).sort(), ['config.json', 'shard-2.safetensors', 'shard-3.safetensors']);
});

test.serial('pull --tensors writes a valid safetensors file of the matching tensors, downloading only the chunks that cover them', async (t) => {
  const c = await repo();
  const { r, served } = await counted(['pull', 'm/v1', '--tensors', 'model.layers.0.*', '--tensors', 'model.big.weight', '--to', 'out/slice.safetensors', '--json'], c);
  const original = await fs.readFile(path.join(a, 'm.safetensors'));
  const whole = parseHeader(original, original.length, 'original');
  const slice = await fs.readFile(path.join(c, 'out', 'slice.safetensors'));
  const got = parseHeader(slice, slice.length, 'slice');
  const expected = whole.tensors.filter((x) => x.name.startsWith('model.layers.0.') || x.name === 'model.big.weight');
  t.true(expected.length >= 3);
  t.deepEqual(got.tensors.map((x) => x.name), expected.map((x) => x.name), 'the matching tensors, in file order');
  t.is(r.json.result.partial.tensors, expected.length);
  t.is(r.json.result.partial.tensorsTotal, whole.tensors.length);
  for (const [i, x] of got.tensors.entries()) {
    const o = expected[i]!;
    t.deepEqual([x.dtype, x.shape], [o.dtype, o.shape], x.name);
    t.true(slice.subarray(x.begin, x.end).equals(original.subarray(o.begin, o.end)), `${x.name}: bytes differ`);
  }
  t.is(slice.length, got.tensors.at(-1)!.end, 'nothing after the last tensor');
  t.is(got.dataStart % 8, 0, 'the header is padded to 8 bytes');
  const keptBytes = expected.reduce((n, x) => n + x.end - x.begin, 0);
  t.log(`--tensors: the server sent ${served} bytes for ${keptBytes} bytes of tensors, of a ${original.length}-byte file`);
  t.true(served >= keptBytes, `served ${served} < the tensors' ${keptBytes} bytes`);
  t.true(served < original.length / 2, `served ${served} of a ${original.length}-byte file`);
  t.is(r.json.result.bytesDownloaded <= served, true);
});

test.serial('partial pulls refuse what they cannot do with one line and exit 2, writing nothing', async (t) => {
  const d = await repo();
  const before = (await fs.readdir(d)).sort();
  const cases: [string[], RegExp][] = [
    [['pull', 'm/v1', '--include', '*.json'], /--include chooses files of a directory checkpoint; m\/v1 is a single file/],
    [['pull', 'run/step-1', '--include', 'nope-*'], /--include "nope-\*" matches none of the 6 files of run\/step-1/],
    [['pull', 'm/v1', '--tensors', 'lm_head.*'], /--tensors writes a new file, not the checkpoint's own: name it with --to FILE/],
    [['pull', 'm/v1', '--tensors', 'no.such.*', '--to', 'x.safetensors'], /--tensors "no\.such\.\*" matches none of the \d+ tensors/],
    [['pull', 'run/step-1', '--tensors', '*', '--to', 'x.safetensors'], /--tensors slices one safetensors file; run\/step-1 holds 6 files: choose one with --include/],
    [['pull', 'run/step-1', '--include', '*.json', '--no-checkout'], /--include and --tensors choose what to write; --no-checkout writes nothing/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args, { cwd: d, env: env() });
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  t.deepEqual((await fs.readdir(d)).sort(), before, 'no file or folder was written');
});

test.serial('resolve NAME/PATH fetches one file of a directory checkpoint into the cache, and serves it offline after', async (t) => {
  const d = await repo();
  const cache = await tempDir('ckpt-partial-cache-');
  const run = async (id: string, extra: Record<string, string> = {}) => {
    const before = proxy.bytesToClient;
    const r = await ok(['resolve', id, '--json'], { cwd: d, env: { ...env(), CKPTSYNC_CACHE: cache, ...extra } });
    return { result: r.json.result, served: proxy.bytesToClient - before };
  };
  const one = await run('run/step-1/shard-3.safetensors');
  t.is(await sha(one.result.path), await sha(path.join(a, 'ckpt', 'shard-3.safetensors')));
  t.true(one.result.path.startsWith(path.join(cache, 'files')), one.result.path);
  t.is(one.result.name, 'run/step-1');
  t.is((await fs.stat(one.result.path)).mode & 0o222, 0, 'read-only, like a whole snapshot in the cache');
  const m = await loadManifest(await Repository.find(a), one.result.manifest);
  const wanted = chunkBytesOf(m.files.filter((f) => f.path === 'shard-3.safetensors'));
  t.is(one.result.bytesDownloaded, wanted.bytes);
  t.true(one.served < wanted.bytes + (4 << 20) / 4, `served ${one.served} for ${wanted.bytes}: other files' chunks were downloaded`);
  // A path that is not a valid name segment still resolves; a missing file is NotFound (exit 3).
  t.is(await fs.readFile((await run('run/step-1/.metadata')).result.path, 'utf8'), 'a file name that is not a valid name segment\n');
  const missing = await cli(['resolve', 'run/step-1/nope.bin'], { cwd: d, env: { ...env(), CKPTSYNC_CACHE: cache } });
  t.is(missing.code, 3, missing.stderr);
  t.regex(missing.stderr, /nope\.bin is not a file of the checkpoint run\/step-1/);
  // Offline, what was fetched is served from the cache; once the whole version is cached, from its snapshot.
  t.is((await run('run/step-1/shard-3.safetensors', { CKPTSYNC_OFFLINE: '1' })).result.path, one.result.path);
  const whole = await run('run/step-1');
  t.true(whole.result.path.startsWith(path.join(cache, 'snapshots')));
  const again = await run('run/step-1/shard-3.safetensors');
  t.is(again.result.path, path.join(whole.result.path, 'shard-3.safetensors'));
  t.is(again.result.bytesDownloaded, 0);
});
