// The main job on an embedded default, no cloud account: generate a checkpoint, add it, push it to a
// local-directory remote, make a second version with ~10% of its tensors changed, push again and show
// how little moved, then pull it into a second repository and check it is identical.
// Usage: node dist/scripts/demo.js [--size-mib N] [--dir DIR]

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loraEveryFor, loraVersion, transformerLayout, writeSafetensors } from '../fixtures/generate.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'bin', 'run.js');
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const sizeMiB = Number(arg('--size-mib', '256'));
const work = path.resolve(arg('--dir', fs.mkdtempSync(path.join(os.tmpdir(), 'ckptsync-demo-'))));

function run(cwd: string, ...args: string[]): any {
  console.log(`\n$ ckptsync ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) {
    console.error(r.stdout);
    process.exit(r.status ?? 1);
  }
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return out.result;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

const lab = path.join(work, 'lab');
const remote = path.join(work, 'remote');
const other = path.join(work, 'other-machine');
fs.mkdirSync(lab, { recursive: true });
fs.mkdirSync(other, { recursive: true });
console.log(`ckptsync demo in ${work} (checkpoint of ~${sizeMiB} MiB, local-directory remote ${remote})`);

run(lab, 'init');
run(lab, 'remote', 'add', 'origin', remote);
const tensors = transformerLayout(sizeMiB << 20);
const file = path.join(lab, 'llama-mini.safetensors');
await writeSafetensors(file, { seed: 'demo', tensors });
const a1 = run(lab, 'add', 'llama-mini.safetensors', '--name', 'llama-mini/step-1000');
console.log(`  ${mb(a1.bytes)} in ${a1.chunks} chunks; pointer file ${path.basename(a1.pointerPath)}`);
const p1 = run(lab, 'push', 'llama-mini/step-1000');
console.log(`  uploaded ${mb(p1.bytesUploaded)} in ${p1.seconds.toFixed(2)} s`);

console.log('\n# fine-tune: rewrite the q/v projections (~10% of the tensors), as a LoRA merge would');
await writeSafetensors(file, { seed: 'demo', tensors, versionOf: loraVersion(loraEveryFor(tensors, 0.1)) });
const a2 = run(lab, 'add', 'llama-mini.safetensors', '--name', 'llama-mini/step-2000');
const p2 = run(lab, 'push', 'llama-mini/step-2000');
console.log(`  uploaded ${mb(p2.bytesUploaded)} of ${mb(p2.bytesTotal)} (${((100 * p2.bytesUploaded) / p2.bytesTotal).toFixed(1)}%): the rest was already on the remote`);

console.log('\n# another machine pulls version 2');
run(other, 'init');
run(other, 'remote', 'add', 'origin', remote);
const pulled = run(other, 'pull', 'llama-mini/step-2000', '--to', 'llama-mini.safetensors');
const same = sha(pulled.path) === sha(file);
console.log(`  downloaded ${mb(pulled.bytesDownloaded)}; identical to the original: ${same ? 'yes' : 'NO'}`);
const listing = spawnSync(process.execPath, [bin, 'ls', '--remote', 'origin'], { cwd: lab, encoding: 'utf8' });
console.log(`\n$ ckptsync ls --remote origin\n${listing.stdout}`);
const v = run(lab, 'verify', '--remote', 'origin');
console.log(`  remote holds ${v.chunks} chunks, ${v.manifests} manifests, ${v.names} names; problems: ${v.problems.length}`);
console.log(`\nTwo versions of a ${mb(a1.bytes)} checkpoint cost ${mb(p1.bytesUploaded + p2.bytesUploaded)} on the remote (${a2.chunksNew} new chunks for v2).`);
if (!same || v.problems.length) {
  console.log(`\nThe demo's files are kept in ${work} for a look.`);
  process.exit(1);
}
// A demo that succeeded leaves nothing behind in the temp directory, unless asked to keep it.
if (process.argv.includes('--dir')) console.log(`\nThe demo's files are in ${work}.`);
else {
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`\nRemoved the demo's files (${work}); run with --dir DIR to keep them.`);
}
