// The S3 driver's chunk data path, SDK against our own signed undici requests (remotes/s3/data-path.ts):
// N objects of 1 MiB are put on a loopback s3rver, then each variant GETs them all with 16 in flight,
// in a fresh child process per run (peak RSS by GNU time), the variants alternating every round.
//   sdk        sdkData=true: GetObjectCommand, body streamed
//   get        own path, get() streamed
//   readInto   own path, readInto() into reused 1 MiB buffers (what pull does)
// PUT is timed the same way (put of the N objects) for sdk and own.
//   node dist/scripts/bench/s3-data.js [--count 256] [--rounds 5]
// Child mode: --child VARIANT URL SETTINGS_JSON COUNT

import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import s3Remote from '../../remotes/s3/index.js';
import { bufferSource } from '../../src/remote/index.js';
import { start } from '../../test/servers/s3.js';
import { measure } from './measure.js';

const MiB = 1 << 20;
const CONCURRENCY = 16;
const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const keyOf = (i: number) => `chunks/${String(i % 256).padStart(3, '0')}/obj-${i}`;

async function bounded(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) await fn(next++);
  }));
}

async function child(): Promise<void> {
  const i = process.argv.indexOf('--child');
  const [variant, url, settingsJson, countText] = process.argv.slice(i + 1, i + 5) as [string, string, string, string];
  const count = Number(countText);
  const settings = { ...(JSON.parse(settingsJson) as Record<string, string>), sdkData: String(variant.startsWith('sdk')) };
  const remote = await s3Remote.create(s3Remote.parse(url, settings));
  const data = crypto.randomBytes(MiB);
  const buffers = Array.from({ length: CONCURRENCY }, () => Buffer.allocUnsafe(MiB));
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (variant.endsWith('put')) {
    await bounded(count, async (k) => {
      await remote.put(keyOf(count + k), bufferSource(data)); // fresh keys: every run writes
      bytes += data.length;
    });
  } else if (variant === 'readInto') {
    const free = [...buffers];
    await bounded(count, async (k) => {
      const buf = free.pop()!;
      const n = await remote.readInto!(keyOf(k), buf); // not `bytes += await ...`: that reads bytes before the await
      bytes += n;
      free.push(buf);
    });
  } else {
    await bounded(count, async (k) => {
      for await (const piece of await remote.get(keyOf(k))) bytes += (piece as Buffer).length;
    });
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await remote.close();
  console.log(JSON.stringify({ seconds, cpu: (cpu.user + cpu.system) / 1e6, bytes }));
}

async function main(): Promise<void> {
  const count = Number(arg('--count', '256'));
  const rounds = Number(arg('--rounds', '5'));
  const server = await start();
  Object.assign(process.env, server.env);
  try {
    const url = server.newUrl();
    const seed = await s3Remote.create(s3Remote.parse(url, server.settings));
    const data = crypto.randomBytes(MiB);
    await bounded(count, (k) => seed.put(keyOf(k), bufferSource(data)));
    await seed.close();
    const self = fileURLToPath(import.meta.url);
    const variants = ['sdk', 'get', 'readInto', 'sdk-put', 'put'];
    const results = new Map(variants.map((v) => [v, { mibs: [] as number[], cpu: [] as number[], rss: [] as number[] }]));
    for (let round = 0; round < rounds; round++) {
      for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
        const run = await measure(process.execPath, [self, '--child', variant, url, JSON.stringify(server.settings), String(count)], { env: server.env });
        const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { seconds: number; cpu: number; bytes: number };
        const r = results.get(variant)!;
        r.mibs.push(out.bytes / MiB / out.seconds);
        r.cpu.push(out.cpu);
        r.rss.push(run.rssMiB);
        console.log(`round ${round} ${variant.padEnd(8)}: ${(out.bytes / MiB / out.seconds).toFixed(0)} MiB/s, cpu ${out.cpu.toFixed(2)} s, peak RSS ${run.rssMiB.toFixed(0)} MiB`);
      }
    }
    for (const [variant, r] of results) {
      console.log(`s3 ${count} x 1 MiB, ${CONCURRENCY} in flight, median of ${rounds}: ${variant.padEnd(8)} ${median(r.mibs).toFixed(0)} MiB/s, cpu ${median(r.cpu).toFixed(2)} s, peak RSS ${median(r.rss).toFixed(0)} MiB`);
    }
  } finally {
    await server.stop();
  }
}

if (process.argv.includes('--child')) await child();
else await main();
