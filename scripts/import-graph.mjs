#!/usr/bin/env node
// Checks the import graph of src/ and remotes/: no cycle between files (the vendored BLAKE3 C files are not
// TypeScript and are not looked at), and no import from a lower floor to a higher one. Data flows one way:
// commands -> api -> sync/core -> remote protocol -> drivers, all on the bottom floor (errors, names).
// Run by the test command; exits 1 naming each offending import or cycle. `--print` shows the folder graph.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Floors, lowest first. A file may import its own floor and the floors its entry lists. */
const FLOORS = [
  ['bottom', /^src\/(errors|names)\.ts$/, []],
  ['native', /^src\/native\//, ['bottom']],
  ['core', /^src\/core\//, ['bottom', 'native']],
  ['remote', /^src\/remote\//, ['bottom']],
  // The driver kit (remotes/kit/): the HTTP toolkit, options parser, error mappers, tree walk, locked swap.
  ['kit', /^remotes\/kit\//, ['bottom', 'remote', 'core']],
  ['driver', /^remotes\/[^/]+\//, ['bottom', 'remote', 'kit']],
  ['sync', /^src\/sync\//, ['bottom', 'core', 'remote']],
  ['builtin', /^src\/builtin-remotes\.ts$/, ['bottom', 'remote', 'driver']],
  ['git', /^src\/(git|lfs)\//, ['bottom', 'core', 'remote', 'sync']],
  ['api', /^src\/api\//, ['bottom', 'core', 'remote', 'sync', 'builtin', 'git', 'native']],
  ['cli', /^src\/cli\//, ['bottom', 'core', 'remote', 'sync', 'api']],
  // The library's face re-exports the plugin host (a driver) for programs that embed it.
  ['face', /^src\/(serve|commands)\/|^src\/index\.ts$/, ['bottom', 'core', 'remote', 'sync', 'builtin', 'git', 'api', 'cli', 'native', 'driver']],
];

function floorOf(rel) {
  const f = FLOORS.find(([, re]) => re.test(rel));
  return f ? f[0] : null;
}

function walk(dir, out = []) {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') walk(rel, out);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The repository-relative .ts file a relative specifier names, or null for a package import. */
function resolveSpec(from, spec) {
  if (!spec.startsWith('.')) return null;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');
  for (const c of [target, target.replace(/\.ts$/, '/index.ts')]) if (fs.existsSync(path.join(root, c))) return c;
  return target;
}

const files = [...walk('src'), ...walk('remotes')];
const edges = new Map(files.map((f) => [f, []]));
const problems = [];
for (const f of files) {
  const text = fs.readFileSync(path.join(root, f), 'utf8');
  const own = floorOf(f);
  if (!own) problems.push(`${f}: on no floor (add it to FLOORS in scripts/import-graph.mjs)`);
  for (const m of text.matchAll(IMPORT)) {
    const to = resolveSpec(f, m[1] ?? m[2]);
    if (!to) continue;
    edges.get(f).push(to);
    const theirs = floorOf(to);
    if (!own || !theirs || theirs === own) continue;
    const allowed = FLOORS.find(([n]) => n === own)[2];
    if (!allowed.includes(theirs)) problems.push(`${f} (${own}) imports ${to} (${theirs}): not a floor below it`);
  }
}

// Cycles between files: Tarjan's strongly connected components.
let index = 0;
const idx = new Map(), low = new Map(), onStack = new Set(), stack = [];
function strong(v) {
  idx.set(v, index); low.set(v, index); index++;
  stack.push(v); onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!edges.has(w)) continue;
    if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do { w = stack.pop(); onStack.delete(w); comp.push(w); } while (w !== v);
    if (comp.length > 1) problems.push(`import cycle: ${comp.sort().join(' <-> ')}`);
  }
}
for (const f of files) if (!idx.has(f)) strong(f);

if (process.argv.includes('--print')) {
  const counts = new Map();
  for (const [f, tos] of edges) for (const t of tos) {
    const key = `${floorOf(f)} -> ${floorOf(t)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [k, n] of [...counts].sort()) console.log(`${String(n).padStart(4)}  ${k}`);
}
if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`import graph: ${problems.length} problem(s) in ${files.length} files`);
  process.exit(1);
}
console.log(`import graph: ${files.length} files, no cycle, every import goes to its own floor or one below`);
