// Builds the native addons of src/native/ into dist/native/ (part of `npm run build`). Each is optional:
// without a C compiler the build says so in one line and ckptsync runs on its fallbacks. CC picks the
// compiler (default cc).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const srcDir = path.join(root, 'src', 'native');
const outDir = path.join(root, 'dist', 'native');
const cc = process.env.CC || 'cc';

/** BLAKE3's C code (src/native/blake3/README.md) for this machine: SIMD assembly on x86-64, NEON on arm64. */
function blake3Sources(): string[] {
  const dir = path.join(srcDir, 'blake3');
  const common = ['blake3.c', 'blake3_dispatch.c', 'blake3_portable.c'].map((f) => path.join(dir, f));
  if (process.arch === 'x64') return [...common, ...['sse2', 'sse41', 'avx2', 'avx512'].map((k) => path.join(dir, `blake3_${k}_x86-64_unix.S`))];
  if (process.arch === 'arm64') return ['-DBLAKE3_USE_NEON=1', ...common, path.join(dir, 'blake3_neon.c')];
  return ['-DBLAKE3_NO_SSE2', '-DBLAKE3_NO_SSE41', '-DBLAKE3_NO_AVX2', '-DBLAKE3_NO_AVX512', ...common];
}

/** What each addon is built from besides its own .c file. */
const extraSources: Record<string, () => string[]> = { 'store-chunk.c': blake3Sources };

fs.mkdirSync(outDir, { recursive: true });
for (const name of fs.readdirSync(srcDir).filter((f) => f.endsWith('.c'))) {
  const out = path.join(outDir, name.replace(/\.c$/, '.node'));
  const tmp = `${out}.tmp-${process.pid}`;
  // Node-API symbols stay undefined here and bind to the node binary when the addon is loaded.
  const sources = [path.join(srcDir, name), ...(extraSources[name]?.() ?? [])];
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-o', tmp, ...sources], { encoding: 'utf8' });
  if (r.status === 0) {
    fs.renameSync(tmp, out);
    continue;
  }
  fs.rmSync(tmp, { force: true });
  fs.rmSync(out, { force: true }); // never leave an addon built from older source
  const why = r.error ? `${cc} not found` : (r.stderr.trim().split('\n')[0] ?? `${cc} exited with ${r.status}`);
  console.warn(`note: ${name} not built (${why}); ckptsync uses its fallback (see docs/dependencies.md)`);
}
