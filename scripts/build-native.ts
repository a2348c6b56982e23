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

fs.mkdirSync(outDir, { recursive: true });
for (const name of fs.readdirSync(srcDir).filter((f) => f.endsWith('.c'))) {
  const out = path.join(outDir, name.replace(/\.c$/, '.node'));
  const tmp = `${out}.tmp-${process.pid}`;
  // Node-API symbols stay undefined here and bind to the node binary when the addon is loaded.
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-o', tmp, path.join(srcDir, name)], { encoding: 'utf8' });
  if (r.status === 0) {
    fs.renameSync(tmp, out);
    continue;
  }
  fs.rmSync(tmp, { force: true });
  fs.rmSync(out, { force: true }); // never leave an addon built from older source
  const why = r.error ? `${cc} not found` : (r.stderr.trim().split('\n')[0] ?? `${cc} exited with ${r.status}`);
  console.warn(`note: ${name} not built (${why}); ckptsync uses its fallback (see README, "Dependencies")`);
}
