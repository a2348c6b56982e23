// Chunks stored on a remote as deltas against a base chunk (manifest-spec.md §8a). Push picks, for each
// new chunk, the chunk at the same place in the remote's most similar file (same size, same chunk count,
// most chunks in common: usually the previous version of the checkpoint), and stores a delta when it is
// at most DELTA_BUDGET of the chunk. Pull reads a chunk whole when it can, and from its delta when the
// whole object is missing; either way the rebuilt bytes are verified against the chunk's hash.

import { IntegrityError } from '../errors.js';
import { applyDelta, deltaHeader, encodeDelta, mayFit } from '../core/delta.js';
import { createHasher } from '../core/hash.js';
import type { Manifest } from '../core/manifest.js';
import type { ObjectStore } from '../core/store.js';
import type { BufferPool } from '../core/buffer-pool.js';
import { deltaName, handleOf, keyOf, prefixOf } from '../remote/layout.js';
import { bufferSource, readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';

/** A delta is stored only when it is at most this fraction of the chunk; otherwise the chunk goes whole. */
export const DELTA_BUDGET = 0.75;

/**
 * Base candidates for the chunks a push uploads: chunk hash -> base chunk hash. For each file of
 * `manifest` holding a chunk in `missing`, the remote file (of `remoteManifests`) with the same size and
 * chunk count that shares the most chunks at the same positions; each missing chunk's base is that
 * file's chunk at the same position, if it has the same size. Files sharing no chunk get no bases.
 */
export function deltaBases(manifest: Manifest, remoteManifests: Iterable<Manifest>, missing: ReadonlySet<string>): Map<string, string> {
  const remoteFiles = [...remoteManifests].flatMap((m) => m.files);
  const bases = new Map<string, string>();
  for (const f of manifest.files) {
    if (!f.chunks.some((h) => missing.has(h))) continue;
    let best: { chunks: string[]; sizes: number[] } | null = null;
    let bestScore = 0;
    for (const g of remoteFiles) {
      if (g.size !== f.size || g.chunks.length !== f.chunks.length) continue;
      let score = 0;
      for (let i = 0; i < f.chunks.length; i++) if (g.chunks[i] === f.chunks[i]) score++;
      if (score > bestScore) [best, bestScore] = [g, score];
    }
    if (!best) continue;
    f.chunks.forEach((h, i) => {
      const b = best.chunks[i]!;
      if (missing.has(h) && b !== h && best.sizes[i] === f.sizes[i] && !bases.has(h)) bases.set(h, b);
    });
  }
  return bases;
}

/** Stores chunks as deltas where that pays, reading bases from the local store. */
export class DeltaWriter {
  private readonly whole = new Map<string, Promise<boolean>>();
  constructor(
    private readonly store: ObjectStore,
    private readonly remote: Remote,
    private readonly bases: ReadonlyMap<string, string>,
    private readonly pool: BufferPool,
  ) {}

  /** Uploads `data` (chunk `hash`, verified) as a delta and returns the bytes sent, or null to send it whole. */
  async put(hash: string, data: Buffer): Promise<number | null> {
    const base = this.bases.get(hash);
    if (!base) return null;
    // Read unverified for the cheap test (most rewritten chunks stop there); verified before it is used.
    const b = await this.store.getPooled('chunk', base, data.length, this.pool, false).catch((e: unknown) => {
      if ((e as { code?: unknown }).code === 'NOT_FOUND') return null; // not here (pushed from a file elsewhere): send whole
      throw e;
    });
    if (!b) return null;
    const budget = Math.floor(data.length * DELTA_BUDGET);
    let delta: Buffer | null = null;
    try {
      if (mayFit(data, b.data, budget)) {
        await this.store.verifyObject('chunk', base, b.data);
        delta = encodeDelta(data, b.data, base, budget);
      }
    } finally {
      b.release();
    }
    // A delta's base must be on the remote whole (never itself a delta), so a rebuild takes one step.
    if (!delta || !(await this.isWhole(base))) return null;
    await this.remote.put(keyOf({ kind: 'delta', name: deltaName(hash, base) }), bufferSource(delta));
    return delta.length;
  }

  private isWhole(base: string): Promise<boolean> {
    let p = this.whole.get(base);
    if (!p) this.whole.set(base, (p = this.remote.stat(keyOf({ kind: 'chunk', name: base })).then((o) => o !== null)));
    return p;
  }
}

/** Where a delta's base comes from: the local store when it holds it, else the remote (whole, verified). */
export type BaseReader = (base: string, size: number) => Promise<Buffer>;

export function baseReader(store: ObjectStore, readWhole: (hash: string, size: number) => Promise<Buffer>): BaseReader {
  return async (base, size) => ((await store.has('chunk', base)) ? store.get('chunk', base) : readWhole(base, size));
}

/**
 * Rebuilds chunk `hash` from a delta on the remote, or returns null when the remote has no delta for it.
 * The result is verified against `hash` and `size`.
 */
export async function readChunkFromDelta(remote: Remote, hash: string, size: number, readBase: BaseReader): Promise<Buffer | null> {
  const key = await findDelta(remote, hash);
  if (!key) return null;
  const what = `delta ${key} on ${remote.displayUrl}`;
  const delta = await readAll(await remote.get(key), 2 * size + 1024);
  const header = deltaHeader(delta, what);
  const named = handleOf(key)!.name.split('-')[1];
  if (header.base !== named || header.size !== size) throw new IntegrityError(`${what} does not match its name (base ${header.base}, ${header.size} bytes)`, { hash });
  const data = applyDelta(delta, await readBase(header.base, size), what);
  const actual = createHasher().update(data).digest();
  if (actual !== hash) throw new IntegrityError(`chunk ${hash} rebuilt from ${what} is corrupt (hashes to ${actual}); nothing was written`, { hash });
  return data;
}

/** The key of a delta of `hash` on the remote, or null. Lists the chunk's two-digit directory (deltas are few). */
async function findDelta(remote: Remote, hash: string): Promise<string | null> {
  const dir = `${prefixOf('delta')}${hash.slice(0, 2)}/`;
  for await (const o of remote.list(dir)) {
    const h = handleOf(o.key);
    if (h?.kind === 'delta' && h.name.startsWith(`${hash}-`)) return o.key;
  }
  return null;
}
