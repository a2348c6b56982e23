// End to end through the real binary: init, add, push to a local-directory remote, pull elsewhere.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { loraEveryFor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { cli, cliPath, findFiles, ok, tempDir } from '../helpers.js';

const sha = async (file: string) => crypto.createHash('sha256').update(await fs.readFile(file)).digest('hex');

async function repoWithRemote(remote: string) {
  const dir = await tempDir('ckpt-e2e-');
  await ok(['init'], { cwd: dir });
  await ok(['remote', 'add', 'origin', remote], { cwd: dir });
  return dir;
}

test('init, add, push to a local remote, pull into a second repository: byte-identical', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  await writeSafetensors(path.join(a, 'models', 'm.safetensors'), { seed: 'e2e', tensors: transformerLayout(24 << 20) });
  const added = await ok(['add', 'models/m.safetensors', '--json'], { cwd: a });
  t.is(added.json.status, 'ok');
  t.is(added.json.result.name, 'models/m.safetensors');
  t.regex(await fs.readFile(path.join(a, 'models', 'm.safetensors.ckpt'), 'utf8'), /^version https:\/\/ckptsync.dev\/spec\/pointer\/v1\nmanifest [0-9a-f]{64}\nname models\/m.safetensors\nsize \d+\n$/);
  t.true((await fs.readFile(path.join(a, '.gitignore'), 'utf8')).includes('/models/m.safetensors\n'));
  const pushed = await ok(['push', 'models/m.safetensors', '--json'], { cwd: a });
  t.is(pushed.json.result.bytesUploaded, pushed.json.result.bytesTotal);

  const b = await repoWithRemote(remote);
  await ok(['pull', 'models/m.safetensors'], { cwd: b });
  t.is(await sha(path.join(b, 'models', 'm.safetensors')), await sha(path.join(a, 'models', 'm.safetensors')));
  // The pointer file alone (as git would bring it) is enough to materialize it too.
  const c = await repoWithRemote(remote);
  await fs.copyFile(path.join(a, 'models', 'm.safetensors.ckpt'), path.join(c, 'copy.ckpt'));
  await ok(['pull', 'copy.ckpt'], { cwd: c });
  t.is(await sha(path.join(c, 'copy')), await sha(path.join(a, 'models', 'm.safetensors')));
  t.deepEqual(await findFiles(c, '.tmp-'), []);
});

test('a directory of shards round-trips, and a second push with nothing to do uploads nothing', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  for (let i = 0; i < 3; i++) await writeSafetensors(path.join(a, 'ckpt', `shard-${i}.safetensors`), { seed: `s${i}`, tensors: transformerLayout(4 << 20) });
  await fs.writeFile(path.join(a, 'ckpt', 'config.json'), '{"hidden": 256}\n');
  await ok(['add', 'ckpt', '--name', 'llm/step-100'], { cwd: a });
  await ok(['push', 'llm/step-100'], { cwd: a });
  const again = await ok(['push', 'llm/step-100', '--json'], { cwd: a });
  t.is(again.json.result.bytesUploaded, 0);
  t.false(again.json.result.changed);
  const b = await repoWithRemote(remote);
  await ok(['pull', 'llm/step-100', '--to', 'restored'], { cwd: b });
  for (const f of ['shard-0.safetensors', 'shard-1.safetensors', 'shard-2.safetensors', 'config.json']) {
    t.is(await sha(path.join(b, 'restored', f)), await sha(path.join(a, 'ckpt', f)), f);
  }
});

test('a second version with ~10% of tensors changed pushes at most 15% of the first version\'s bytes', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  const tensors = transformerLayout(48 << 20);
  const file = path.join(a, 'model.safetensors');
  await writeSafetensors(file, { seed: 'v', tensors });
  await ok(['add', 'model.safetensors'], { cwd: a });
  const v1 = await ok(['push', 'model.safetensors', '--json'], { cwd: a });
  await writeSafetensors(file, { seed: 'v', tensors, versionOf: loraVersion(loraEveryFor(tensors, 0.1)) });
  await ok(['add', 'model.safetensors'], { cwd: a });
  const v2 = await ok(['push', 'model.safetensors', '--json'], { cwd: a });
  const ratio = v2.json.result.bytesUploaded / v1.json.result.bytesUploaded;
  t.log(`v2 uploaded ${v2.json.result.bytesUploaded} of ${v1.json.result.bytesUploaded} bytes (${(ratio * 100).toFixed(1)}%)`);
  t.true(ratio > 0.05 && ratio <= 0.15, `ratio ${ratio}`);
  // The name keeps its history: both versions are reachable.
  const ref = JSON.parse(await fs.readFile(path.join(remote, 'refs', 'model.safetensors.ref'), 'utf8'));
  t.is(ref.history.length, 2);
  t.is(ref.target, v2.json.result.manifest);
});

test('a push killed midway finishes when run again, and verify --remote finds the remote whole', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  await fs.writeFile(path.join(a, 'big.bin'), crypto.randomBytes(96 << 20));
  await ok(['add', 'big.bin'], { cwd: a });
  const child = spawn(process.execPath, [cliPath, 'push', 'big.bin', '-j', '1'], { cwd: a, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // Kill it once some, but not all, chunks are on the remote.
  let uploaded = 0;
  for (let i = 0; i < 2000 && uploaded < 5; i++) {
    await new Promise((r) => setTimeout(r, 5));
    uploaded = (await findFiles(path.join(remote, 'chunks'), '')).length;
  }
  child.kill('SIGKILL');
  await exited;
  t.true(uploaded >= 5, 'the push got under way before it was killed');
  t.deepEqual(await findFiles(path.join(remote, 'manifests'), ''), [], 'no manifest before all its chunks');
  t.is(await fs.stat(path.join(remote, 'refs')).catch(() => null), null, 'no name before its manifest');

  const resumed = await ok(['push', 'big.bin', '--json'], { cwd: a });
  t.true(resumed.json.result.chunksUploaded < resumed.json.result.chunksTotal, 'chunks already uploaded are not sent again');
  const v = await ok(['verify', '--remote', 'origin', '--json'], { cwd: a });
  t.deepEqual(v.json.result.problems, []);
  t.is(v.json.result.names, 1);
  t.deepEqual(await findFiles(path.join(a, '.ckptsync'), '.tmp-'), []);
});

test('bad input: one error line, the documented exit code, the --json error envelope, no partial file', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  await fs.mkdir(remote); // an empty remote: a missing one is refused before any name is looked up
  const missing = await cli(['pull', 'no/such/name'], { cwd: a });
  t.is(missing.code, 3);
  t.is(missing.stderr.trim().split('\n').length, 1);
  t.regex(missing.stderr, /^ckptsync: error: no checkpoint named no\/such\/name on file:\/\//);
  const j = await cli(['push', 'nothing', '--json'], { cwd: a });
  t.is(j.code, 3);
  t.deepEqual(Object.keys(j.json), ['status', 'error', 'warnings']);
  t.is(j.json.error.code, 'NOT_FOUND');
  t.is((await cli(['remote', 'add', 'x', 'nope://host/p'], { cwd: a })).code, 2);
  t.is((await cli(['add', 'x', '--name', '../escape'], { cwd: a })).code, 2);
  t.is((await cli(['ls'], { cwd: path.dirname(a) })).code, 9);

  // A chunk corrupted on the remote: pull refuses, names the object, writes no file.
  await fs.writeFile(path.join(a, 'w.bin'), crypto.randomBytes(3 << 20));
  await ok(['add', 'w.bin'], { cwd: a });
  await ok(['push', 'w.bin'], { cwd: a });
  const [victim] = await findFiles(path.join(remote, 'chunks'), '');
  const vp = path.join(remote, 'chunks', victim!);
  const bytes = await fs.readFile(vp);
  bytes[100] ^= 0xff;
  await fs.writeFile(vp, bytes);
  const b = await repoWithRemote(remote);
  const bad = await cli(['pull', 'w.bin'], { cwd: b });
  t.is(bad.code, 5);
  t.true(bad.stderr.includes(path.basename(victim!)), bad.stderr);
  t.is(await fs.stat(path.join(b, 'w.bin')).catch(() => null), null);
  t.deepEqual(await findFiles(b, '.tmp-'), []);
  t.is((await cli(['verify', '--remote', 'origin'], { cwd: b })).code, 0, 'sizes and presence look right');
  const deep = await cli(['verify', '--remote', 'origin', '--deep'], { cwd: b });
  t.is(deep.code, 5);
  t.true(deep.stdout.includes(`corrupt-chunk ${path.basename(victim!)}`), deep.stdout);
});

test('adding a 256 MiB file keeps peak memory far below the file size', async (t) => {
  const a = await tempDir('ckpt-mem-');
  await ok(['init'], { cwd: a });
  const fh = await fs.open(path.join(a, 'big.bin'), 'w');
  for (let i = 0; i < 64; i++) await fh.write(crypto.randomBytes(4 << 20));
  await fh.close();
  let peakKiB = 0;
  const child = spawn(process.execPath, [cliPath, 'add', 'big.bin'], { cwd: a, stdio: 'ignore' });
  const timer = setInterval(async () => {
    const s = await fs.readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
  }, 20);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearInterval(timer);
  t.is(code, 0);
  t.log(`peak RSS ${(peakKiB / 1024).toFixed(0)} MiB`);
  t.true(peakKiB > 0 && peakKiB < 300 * 1024, `peak ${peakKiB} KiB`);
});

test('driver options: remote options lists the table, an unknown option is refused naming the known ones, and the table decides which settings are hidden', async (t) => {
  const dir = await tempDir();
  await ok(['init'], { cwd: dir });
  const s3 = await ok(['remote', 'options', 's3', '--json'], { cwd: dir });
  const table = s3.json.result.options as { name: string; secret?: boolean }[];
  t.true(table.some((o) => o.name === 'secretAccessKey' && o.secret === true));
  t.true(table.some((o) => o.name === 'region' && !o.secret));
  t.regex((await ok(['remote', 'options', 'b2'], { cwd: dir })).stdout, /^applicationKey\s+.*\[secret: never shown\]$/m);
  t.is((await cli(['remote', 'options', 'nosuchscheme'], { cwd: dir })).code, 2);

  const typo = await cli(['remote', 'add', 's', 's3://bkt/p', '-o', 'regoin=eu-west-1'], { cwd: dir });
  t.is(typo.code, 2);
  t.regex(typo.stderr, /unknown s3 option "regoin" \(known: endpoint, region, /);
  t.is((await ok(['remote', 'list', '--json'], { cwd: dir })).json.result.length, 0, 'nothing was added');

  // B2's key id is not secret in its table (a name regex would hide it: it contains "Key"); the key is.
  const added = await ok(['remote', 'add', 'b', 'b2://my-bucket-1/p', '-o', 'applicationKeyId=K0042', '-o', 'applicationKey=TOPSECRET', '--json'], { cwd: dir });
  t.deepEqual(added.json.result.settings, { applicationKeyId: 'K0042', applicationKey: '***' });
  const listed = await ok(['remote', 'list', '--json'], { cwd: dir });
  t.deepEqual(listed.json.result[0].settings, { applicationKeyId: 'K0042', applicationKey: '***' });
  t.false(listed.stdout.includes('TOPSECRET'));
});
