// A push of the small-files folder (scripts/bench/small-files.ts: 10,000 files of 4 KiB in 100 folders)
// to the loopback S3 and SFTP test servers: the push's wall time in this process and its requests
// counted by Remote method (counting-remote.ts), beside `rclone copy` of the same folder to the same
// server. Issue 26 asks whether the request count dominates (it would call for packs of small chunks).
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
    console.log(`push of ${files} files of 4 KiB (in 100 folders) to loopback servers:\n`);
    console.log('| server | push s | requests (by method) | rclone copy s |');
    console.log('| --- | --- | --- | --- |');
    for (const name of servers) {
      const server = await startServer(name);
      const saved = { ...process.env };
      Object.assign(process.env, server.env);
      try {
        await addRemote({ repo, name, url: server.newUrl(), settings: server.settings });
        const { remote } = await openRemoteFor(repo, name, { mayCreate: true });
        const counted = countingRemote(remote);
        const t0 = process.hrtime.bigint();
        try {
          await push({ repo, target: 'small', remote: counted.remote });
        } finally {
          await remote.close();
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        let rclone = '-';
        if (withRclone.includes(name)) {
          const rc = server.rclone();
          const cfg = path.join(work, `rclone-${name}.conf`);
          await fs.writeFile(cfg, rc.config);
          rclone = (await measure('rclone', ['--config', cfg, 'copy', data, `${rc.remote}-rclone`], { env: { ...server.env, AWS_CA_BUNDLE: '' } })).seconds.toFixed(2);
        }
        const by = Object.entries(counted.counts).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`| ${name} | ${seconds.toFixed(2)} | ${counted.total()} (${by}) | ${rclone} |`);
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
