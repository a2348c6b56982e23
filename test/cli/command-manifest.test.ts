// The command manifest bin/run.js hands to oclif (src/cli/command-manifest.ts): used when it matches
// the build, rebuilt when it does not, never able to hide or misroute a command. Each test runs the
// real binary from its own copy of the package root (package.json and bin/ copied, dist/ and
// node_modules/ linked), so the repository's own manifest is never touched.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { buildFingerprint, COMMAND_MANIFEST_FILE } from '../../src/cli/command-manifest.js';
import { repoRoot, tempDir } from '../helpers.js';

async function packageCopy(): Promise<string> {
  const root = await tempDir('ckpt-manifest-');
  await fs.copyFile(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'));
  await fs.mkdir(path.join(root, 'bin'));
  await fs.copyFile(path.join(repoRoot, 'bin', 'run.js'), path.join(root, 'bin', 'run.js'));
  for (const d of ['dist', 'node_modules']) await fs.symlink(path.join(repoRoot, d), path.join(root, d));
  return root;
}

function run(root: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const readManifest = async (root: string) => JSON.parse(await fs.readFile(path.join(root, COMMAND_MANIFEST_FILE), 'utf8'));

async function commandIds(): Promise<string[]> {
  const dir = path.join(repoRoot, 'dist', 'src', 'commands');
  const files = (await fs.readdir(dir, { recursive: true })).filter((f) => f.endsWith('.js'));
  return files.map((f) => f.replace(/\.js$/, '').split(path.sep).join(':')).sort();
}

test('first start writes a manifest naming every command file, with the build fingerprint', async (t) => {
  const root = await packageCopy();
  const r = await run(root, ['--version']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ckptsync\/\d+\.\d+\.\d+ /);
  const m = await readManifest(root);
  t.deepEqual(Object.keys(m.commands).sort(), await commandIds());
  t.is(m.ckptsyncBuild, buildFingerprint(root));
  // Paths are relative to the package root (here through the dist/ link, so compare real paths).
  const file = path.join(root, ...m.commands['remote:add'].relativePath);
  t.is(await fs.realpath(file), await fs.realpath(path.join(repoRoot, 'dist', 'src', 'commands', 'remote', 'add.js')));
});

test('a manifest matching the build is what oclif uses (no command file imported to list commands)', async (t) => {
  const root = await packageCopy();
  t.is((await run(root, ['--version'])).code, 0);
  const m = await readManifest(root);
  // A marker only the manifest carries: if help shows it, oclif read the manifest, not the classes.
  m.commands.ls.description = 'MANIFEST-MARKER';
  await fs.writeFile(path.join(root, COMMAND_MANIFEST_FILE), JSON.stringify(m));
  const help = await run(root, ['--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /ls\s+MANIFEST-MARKER/);
});

test('a stale manifest missing a command is rebuilt, and the command runs', async (t) => {
  const root = await packageCopy();
  t.is((await run(root, ['--version'])).code, 0);
  const m = await readManifest(root);
  delete m.commands.push;
  m.ckptsyncBuild = 'from-an-older-build';
  await fs.writeFile(path.join(root, COMMAND_MANIFEST_FILE), JSON.stringify(m));
  const help = await run(root, ['push', '--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /--from-file/);
  const rebuilt = await readManifest(root);
  t.truthy(rebuilt.commands.push);
  t.is(rebuilt.ckptsyncBuild, buildFingerprint(root));
});

test('a changed package.json version invalidates the manifest without an oclif version warning', async (t) => {
  const root = await packageCopy();
  t.is((await run(root, ['--version'])).code, 0);
  const pjson = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8'));
  pjson.version = '9.8.7';
  await fs.writeFile(path.join(root, 'package.json'), JSON.stringify(pjson, null, 2));
  const r = await run(root, ['--version']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ckptsync\/9\.8\.7 /);
  t.is(r.stderr, '');
  t.is((await readManifest(root)).version, '9.8.7');
});

test('when a fresh manifest cannot be saved, commands still run from the freshly loaded list', async (t) => {
  const root = await packageCopy();
  // A directory where the manifest belongs: unreadable as a manifest and impossible to rename over.
  await fs.mkdir(path.join(root, COMMAND_MANIFEST_FILE));
  const r = await run(root, ['remote', 'list', '--help']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /USAGE\s+\$ ckptsync remote list/);
  t.true((await fs.stat(path.join(root, COMMAND_MANIFEST_FILE))).isDirectory());
  t.deepEqual((await fs.readdir(root)).filter((f) => f.endsWith('.tmp')), []);
});
