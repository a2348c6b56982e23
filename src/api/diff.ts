// diff: compare two checkpoints from their manifests — files added, removed and changed, bytes shared
// and unique (by chunk), and for safetensors files which tensors changed (hashed from the store).

import { NotFoundError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { manifestChunks, type Manifest, type ManifestFile } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import { isSafetensors, tensorDigests } from '../core/safetensors.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from '../sync/manifests.js';
import { fetchSnapshot } from '../sync/pull.js';
import { readRemoteRef } from '../sync/refs.js';
import { openRemoteFor } from './remote.js';
import { resolveTarget } from './target.js';

export interface DiffOptions {
  a: string;
  b: string;
  /** Found from cwd when omitted; without one, the shared cache holds what is downloaded. */
  repo?: Repository | null;
  /** Where names not known locally are looked up. */
  remote?: string | Remote;
  /** Compare safetensors tensors (reads their chunks; downloads them if needed). Default true. */
  tensors?: boolean;
}

export interface TensorChanges {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
}

export interface FileChange {
  path: string;
  sizeA: number;
  sizeB: number;
  /** Bytes of B's file in chunks A's file also has. */
  bytesShared: number;
  tensors?: TensorChanges;
}

export interface DiffResult {
  a: string;
  b: string;
  added: string[];
  removed: string[];
  changed: FileChange[];
  unchanged: number;
  bytes: { a: number; b: number; shared: number; uniqueA: number; uniqueB: number };
}

export async function diff(opts: DiffOptions): Promise<DiffResult> {
  const repo = opts.repo ?? (await CheckpointCache.open(await cacheDirFor({}))).repo;
  let opened: { remote: Remote; owned: boolean } | null = null;
  const remote = async () => (opened ??= await openRemoteFor(opts.repo ?? null, opts.remote)).remote;
  try {
    const hashOf = async (id: string): Promise<string> => {
      const t = opts.repo ? await resolveTarget(opts.repo, id, { allowRemoteName: true }).catch(() => null) : null;
      if (t?.manifest) return t.manifest;
      const r = await remote();
      const ref = await readRemoteRef(r, t?.name ?? id);
      if (!ref) throw new NotFoundError(`${id} is not a local checkpoint, and no name ${id} is on ${r.displayUrl}`, { id });
      return ref.doc.target;
    };
    const load = async (h: string) => ((await repo.store.has('manifest', h)) ? loadManifest(repo, h) : loadManifest(repo, h, await remote()));
    const [ha, hb] = [await hashOf(opts.a), await hashOf(opts.b)];
    const [ma, mb] = [await load(ha), await load(hb)];
    const result = compare(opts.a, opts.b, ma, mb);

    const withTensors = result.changed.filter((c) => isSafetensors(c.path));
    if (opts.tensors !== false && withTensors.length > 0) {
      for (const [h, m] of [[ha, ma], [hb, mb]] as const) {
        const missing = await anyMissing(repo, m);
        if (missing) await fetchSnapshot(repo, await remote(), h);
      }
      const { fa, fb } = filesByPath(ma, mb);
      for (const c of withTensors) c.tensors = compareTensors(await tensorDigests(repo.store, fa.get(c.path)!), await tensorDigests(repo.store, fb.get(c.path)!));
    }
    return result;
  } finally {
    const o = opened as { remote: Remote; owned: boolean } | null;
    if (o?.owned) await o.remote.close();
  }
}

function compare(a: string, b: string, ma: Manifest, mb: Manifest): DiffResult {
  const { fa, fb } = filesByPath(ma, mb);
  const ca = manifestChunks(ma);
  const cb = manifestChunks(mb);
  let shared = 0;
  for (const [h, n] of cb) if (ca.has(h)) shared += n;
  const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const result: DiffResult = {
    a,
    b,
    added: [...fb.keys()].filter((p) => !fa.has(p)).sort(),
    removed: [...fa.keys()].filter((p) => !fb.has(p)).sort(),
    changed: [],
    unchanged: 0,
    bytes: { a: sum(ca), b: sum(cb), shared, uniqueA: sum(ca) - shared, uniqueB: sum(cb) - shared },
  };
  for (const [p, x] of fa) {
    const y = fb.get(p);
    if (!y) continue;
    if (sameContent(x, y)) result.unchanged++;
    else {
      const chunksA = new Set(x.chunks);
      const bytesShared = y.chunks.reduce((n, h, i) => n + (chunksA.has(h) ? y.sizes[i]! : 0), 0);
      result.changed.push({ path: p, sizeA: x.size, sizeB: y.size, bytesShared });
    }
  }
  result.changed.sort((x, y) => (x.path < y.path ? -1 : 1));
  return result;
}

function filesByPath(ma: Manifest, mb: Manifest): { fa: Map<string, ManifestFile>; fb: Map<string, ManifestFile> } {
  const fa = new Map(ma.files.map((f) => [f.path, f]));
  // A single-file snapshot's only file is the same file whatever it was called.
  if (ma.type === 'file' && mb.type === 'file') return { fa, fb: new Map([[ma.files.at(0)!.path, mb.files.at(0)!]]) };
  return { fa, fb: new Map(mb.files.map((f) => [f.path, f])) };
}

function sameContent(x: ManifestFile, y: ManifestFile): boolean {
  return x.size === y.size && x.chunks.length === y.chunks.length && x.chunks.every((h, i) => h === y.chunks[i]);
}

function compareTensors(a: { name: string; hash: string; dtype: string; shape: number[] }[], b: typeof a): TensorChanges {
  const ta = new Map(a.map((t) => [t.name, t]));
  const tb = new Map(b.map((t) => [t.name, t]));
  const out: TensorChanges = { added: [], removed: [], changed: [], unchanged: 0 };
  for (const [n, t] of tb) {
    const o = ta.get(n);
    if (!o) out.added.push(n);
    else if (o.hash !== t.hash || o.dtype !== t.dtype || o.shape.join() !== t.shape.join()) out.changed.push(n);
    else out.unchanged++;
  }
  for (const n of ta.keys()) if (!tb.has(n)) out.removed.push(n);
  for (const l of [out.added, out.removed, out.changed]) l.sort();
  return out;
}

async function anyMissing(repo: Repository, m: Manifest): Promise<boolean> {
  for (const h of manifestChunks(m).keys()) if (!(await repo.store.readable(h))) return true;
  return false;
}
