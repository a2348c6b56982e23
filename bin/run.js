#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=20 --wasm-tiering-budget=1000000000
// --max-semi-space-size=4 (MiB; Node 20's default grows to 16): a pull allocates many short-lived
// objects (HTTP pieces, SDK middleware), and a smaller young generation keeps its peak RSS ~10 MiB lower
// with less CPU, not more (1 GiB from S3: 149 -> 139 MiB, 7.8 -> 6.9 CPU-s; local: no change). The flag
// only works at startup, hence the shebang (`env -S`); `node bin/run.js` runs without these flags.
// --heap-growing-percent=20: after each full collection V8 lets the heap grow by 20% before the next, not
// by a factor up to 4 it picks from the allocation rate. A pull of 400,000 small files, whose live heap is
// ~200 MB, peaked at 614 MiB and now at 427 (23 -> 27 CPU-s); one of 100,000 at 221 MiB and now 176.
// --wasm-tiering-budget (V8's default 1.8 million): undici parses answers with llhttp compiled to
// WebAssembly, and at the default budget its parser is hot enough after a handful of answers for V8
// to recompile it with TurboFan in the background: ~0.15 s and ~35 MiB, which Node waits for at exit.
// A no-op push to WebDAV took 0.66-0.84 s and peaked at 114 MiB; with the flag 0.5 s and 78 MiB.
// A hot loop (FastCDC's kernel) still tiers up within its first megabytes: 256 MiB chunked at the same
// speed (node dist/scripts/bench/fastcdc.js 256 3).
// Starts the CLI. oclif reads oclif.manifest.json instead of importing every command file, but only
// after prepareCommandManifest has checked that the manifest describes this very build (see
// src/cli/command-manifest.ts); @oclif/core itself is imported only after that check.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { prepareCommandManifest } from '../dist/src/cli/command-manifest.js';

// First, before the thread pool starts: glibc's malloc tuned for many buffers over a long run (tuneMalloc
// in src/native/store-chunk.c; a pull of 400,000 small files peaked at 233 MiB, and at 209 with it).
try {
  createRequire(import.meta.url)('../dist/native/store-chunk.node').tuneMalloc?.();
} catch {
  // no addon (no C compiler at set-up): malloc as it is
}

// @oclif/core's index checks the running Node against its own engines (>=18) with the full semver
// package, ~35 ms per start; package.json's engines (>=20.18) are stricter, so the check can never
// warn for a supported Node. Skipped for this import only, so child processes keep the default.
const engineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING;
process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true';
const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = await prepareCommandManifest(root);
const { Config, execute } = await import('@oclif/core');
if (engineCheck === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineCheck;

// With a plugin in hand (the manifest on disk is stale and could not be replaced), oclif uses it
// as loaded rather than reading the file.
const config = await byCodePoints(() => Config.load(plugin ? { root, plugins: new Map([[plugin.name, plugin]]) } : root));
await execute({ loadOptions: config });

/**
 * Runs `load` with String.prototype.localeCompare comparing by code points. oclif sorts the command ids
 * with it as it loads its config, and the first localeCompare call loads ICU's collation data, which
 * then stays resident for the whole run of every command (~2.5 MiB of peak RSS). Our ids are
 * lower-case ASCII, which both orders sort alike; the real localeCompare is back before any command runs.
 */
async function byCodePoints(load) {
  const localeCompare = String.prototype.localeCompare;
  String.prototype.localeCompare = function (that) {
    const a = String(this);
    return a < that ? -1 : a > that ? 1 : 0;
  };
  try {
    return await load();
  } finally {
    String.prototype.localeCompare = localeCompare;
  }
}
