import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { pull } from '../../src/api/pull.js';
import { readRemoteRef } from '../../src/sync/refs.js';
import { cli, cliPath } from '../helpers.js';
import { localRemote, newRepo, randomBytes } from './fixture.js';

const KB = 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ckptsync watch` as a child process, its NDJSON events collected as they arrive. */
function startWatch(args: string[], cwd: string) {
  const child = spawn(process.execPath, [cliPath, 'watch', ...args, '--json'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: any[] = [];
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line));
      } catch {}
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  const uploads = () => events.filter((e) => e.event === 'uploaded');
  const until = async (cond: () => boolean) => {
    while (!cond()) await sleep(50);
  };
  return { child, events, uploads, until, exited, stderr: () => stderr };
}

/** Writes `data` in `parts` pieces with pauses, keeping the file open (a slow torch.save). */
async function writeSlowly(file: string, data: Buffer, parts: number, pauseMs: number): Promise<void> {
  const fh = await fs.open(file, 'w');
  const step = Math.ceil(data.length / parts);
  for (let i = 0; i < data.length; i += step) {
    await fh.write(data.subarray(i, i + step));
    await sleep(pauseMs);
  }
  await fh.close();
}

async function remoteBytes(url: string, name: string): Promise<Buffer> {
  const { repo, root } = await newRepo();
  const r = await pull({ repo, target: name, remote: url, to: path.join(root, 'out') });
  return fs.readFile(r.path!);
}

test('watch › only complete checkpoints are uploaded, each exactly once, and a restart uploads what was missed', async (t) => {
  const { root } = await newRepo();
  const { url, remote } = await localRemote();
  const ckdir = path.join(root, 'ckpts');
  await fs.mkdir(ckdir);
  // Pauses longer than the stability window: only the open-for-writing check keeps a partial upload out.
  const w = startWatch([ckdir, '--remote', url, '--pattern', '*.pt', '--name', 'run1/{stem}', '--stable', '200ms', '--poll', '50ms'], root);

  const slow = randomBytes(600 * KB, 1);
  const renamed = randomBytes(500 * KB, 2);
  const second = randomBytes(300 * KB, 3);
  await writeSlowly(path.join(ckdir, 'epoch_1.pt'), slow, 4, 600);
  await fs.writeFile(path.join(ckdir, 'epoch_2.pt.part'), renamed);
  await fs.rename(path.join(ckdir, 'epoch_2.pt.part'), path.join(ckdir, 'epoch_2.pt'));
  await fs.writeFile(path.join(ckdir, 'notes.txt'), 'not a checkpoint');
  await w.until(() => w.uploads().length >= 2);
  await writeSlowly(path.join(ckdir, 'epoch_3.pt'), second, 3, 400);
  await w.until(() => w.uploads().length >= 3);
  w.child.kill('SIGTERM');
  t.is(await w.exited, 0, w.stderr());

  t.deepEqual(w.uploads().map((e) => e.file).sort(), ['epoch_1.pt', 'epoch_2.pt', 'epoch_3.pt'], 'each checkpoint once, nothing else');
  for (const [name, data] of [['run1/epoch_1', slow], ['run1/epoch_2', renamed], ['run1/epoch_3', second]] as const) {
    const ref = await readRemoteRef(remote, name);
    t.is(ref?.doc.history.length, 1, `${name} was pushed once`);
    t.true((await remoteBytes(url, name)).equals(data), `${name} on the remote is the complete file`);
  }
  t.is(w.events.at(-1)?.status, 'ok');

  // Written while no watcher ran: the next run uploads it, and only it.
  const late = randomBytes(200 * KB, 4);
  await fs.writeFile(path.join(ckdir, 'epoch_4.pt'), late);
  const again = await cli(['watch', ckdir, '--remote', url, '--pattern', '*.pt', '--name', 'run1/{stem}', '--stable', '100ms', '--once', '--json'], { cwd: root });
  t.is(again.code, 0, again.stderr);
  const events = again.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(events.filter((e) => e.event === 'uploaded').map((e) => e.file), ['epoch_4.pt']);
  t.true((await remoteBytes(url, 'run1/epoch_4')).equals(late));
});

test('watch › a file written again moves its name and keeps the old version in the history', async (t) => {
  const { root } = await newRepo();
  const { url, remote } = await localRemote();
  const ckdir = path.join(root, 'out');
  await fs.mkdir(ckdir);
  const args = ['watch', ckdir, '--remote', url, '--stable', '100ms', '--once', '--json'];
  await fs.writeFile(path.join(ckdir, 'last.ckpt-data'), randomBytes(100 * KB, 5));
  t.is((await cli(args, { cwd: root })).code, 0);
  const v2 = randomBytes(100 * KB, 6);
  await fs.writeFile(path.join(ckdir, 'last.ckpt-data'), v2);
  t.is((await cli(args, { cwd: root })).code, 0);
  const ref = await readRemoteRef(remote, 'last.ckpt-data');
  t.is(ref?.doc.history.length, 2);
  t.true((await remoteBytes(url, 'last.ckpt-data')).equals(v2));
});
