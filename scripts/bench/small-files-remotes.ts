// The small-files folder (scripts/bench/small-files.ts: 10,000 files of 4 KiB in 100 folders) pushed to
// the loopback S3 and SFTP test servers and pulled back into a fresh repository, with packs (remote
// layout 3, manifest-spec.md §8c) and with --no-packs (each chunk its own object): wall time in this
// process and requests counted by Remote method (counting-remote.ts), beside `rclone copy` of the same
// folder up to the same server and back. Issue 26 asked whether the request count dominates.
//   node dist/scripts/bench/small-files-remotes.js [--files N] [--servers s3,sftp] [--rclone s3]
// --rclone: the servers rclone runs against (default s3 only: rclone's SFTP copy of 500 such files took
// 105 s on the loaded machine of 2026-12-05, against 4.8 s to S3).

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { add } from '../../src/api/add.js';
import { addRemote } from '../../src/api/remotes.js';
import { openRemoteFor } from '../../src/api/remote.js';
import { pull } from '../../src/api/pull.js';
import { push } from '../../src/api/push.js';
import { Repository } from '../../src/core/repo.js';
import { countingRemote } from './counting-remote.js';
import { measure } from './measure.js';
import { startServer } from './servers.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

async function main(): Promise<void> {
  const files = Number(arg('--files') ?? 10000);
  const servers = (arg('--servers') ?? 's3,sftp').split(',');
  const withRclone = (arg('--rclone') ?? 's3').split(',');
  await fs.mkdir(path.join(ROOT, '.bench'), { recursive: true });
  const work = await fs.mkdtemp(path.join(ROOT, '.bench/small-remotes-'));
  try {
    const data = path.join(work, 'data');
    for (let d = 0; d < 100; d++) await fs.mkdir(path.join(data, `d${d}`), { recursive: true });
    for (let i = 0; i < files; i += 256) {
      await Promise.all(Array.from({ length: Math.min(256, files - i) }, (_, k) => fs.writeFile(path.join(data, `d${(i + k) % 100}`, `f${i + k}.bin`), crypto.randomBytes(4096))));
    }
    const { repo } = await Repository.init(work);
    await add({ repo, path: data, name: 'small', pointer: false });
    console.log(`${files} files of 4 KiB (in 100 folders) to loopback servers and back:\n`);
    console.log('| server | layout | push s | push requests (by method) | pull s | pull requests (by method) | rclone copy up / down s |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    const timed = async (f: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint();
      await f();
      return (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2);
    };
    const counts = (c: ReturnType<typeof countingRemote>) => `${c.total()} (${Object.entries(c.counts).map(([k, v]) => `${k} ${v}`).join(', ')})`;
    for (const name of servers) {
      const server = await startServer(name);
      const saved = { ...process.env };
      Object.assign(process.env, server.env);
      try {
        for (const packs of [true, false]) {
          const as = `${name}-${packs ? 'packs' : 'whole'}`;
          await addRemote({ repo, name: as, url: server.newUrl(), settings: server.settings });
          const { remote } = await openRemoteFor(repo, as, { mayCreate: true });
          const up = countingRemote(remote);
          const down = countingRemote(remote);
          const fresh = (await Repository.init(await fs.mkdtemp(path.join(work, 'pull-')))).repo;
          let pushS: string, pullS: string;
          try {
            pushS = await timed(() => push({ repo, target: 'small', remote: up.remote, packs }));
            pullS = await timed(() => pull({ repo: fresh, target: 'small', remote: down.remote, to: path.join(fresh.root, 'out') }));
          } finally {
            await remote.close();
          }
          let rclone = '-';
          if (packs && withRclone.includes(name)) {
            const rc = server.rclone();
            const cfg = path.join(work, `rclone-${name}.conf`);
            await fs.writeFile(cfg, rc.config);
            const env = { env: { ...server.env, AWS_CA_BUNDLE: '' } };
            const upS = (await measure('rclone', ['--config', cfg, 'copy', data, `${rc.remote}-rclone`], env)).seconds.toFixed(2);
            const downS = (await measure('rclone', ['--config', cfg, 'copy', `${rc.remote}-rclone`, path.join(work, `rclone-down-${name}`)], env)).seconds.toFixed(2);
            rclone = `${upS} / ${downS}`;
          }
          console.log(`| ${name} | ${packs ? 'packs' : '--no-packs'} | ${pushS} | ${counts(up)} | ${pullS} | ${counts(down)} | ${rclone} |`);
        }
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        await server.stop();
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
