// Chunks stored on a remote as deltas against a base chunk (manifest-spec.md §8a). Push picks, for each
// new chunk, the chunk at the same place in the remote's most similar file (same size, same chunk count,
// most chunks in common: usually the previous version of the checkpoint), and stores a delta when it is
// at most DELTA_BUDGET of the chunk. Pull reads a chunk whole when it can, and from its delta when the
// whole object is missing; either way the rebuilt bytes are verified against the chunk's hash.

import { IntegrityError } from '../errors.js';
import { runBounded } from '../core/bounded.js';
import { applyDelta, deltaHeader, encodeDelta, mayFit, sampleOffsets, SAMPLE_BYTES, samplesMayFit } from '../core/delta.js';
import { createHasher } from '../core/hash.js';
import type { Manifest, ManifestFile } from '../core/manifest.js';
import type { ObjectStore } from '../core/store.js';
import type { BufferPool } from '../core/buffer-pool.js';
import { deltaName, keyOf } from '../remote/layout.js';
import { bufferSource, readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { listDeltas, type ListedDelta } from './listing.js';

/** A delta is stored only when it is at most this fraction of the chunk; otherwise the chunk goes whole. */
export const DELTA_BUDGET = 0.75;

/**
 * Base candidates for the chunks a push uploads: chunk hash -> base chunk hash. For each file of
 * `manifest` holding a chunk in `missing`, the remote file (of the manifests `remoteManifests` names,
 * read one at a time through `load`: only the best match per file is kept, so memory does not grow with
 * the remote's history) with the same size and chunk count that shares the most chunks at the same
 * positions; each missing chunk's base is that file's chunk at the same position, if it has the same
 * size. Files sharing no chunk get no bases.
 */
export async function deltaBases(
  manifest: Manifest,
  remoteManifests: Iterable<string>,
  load: (hash: string) => Promise<Manifest>,
  missing: ReadonlySet<string>,
): Promise<Map<string, string>> {
  // The files wanting a chunk, by size and chunk count: a remote file is compared only with those of its
  // shape (comparing each with each took 1.6 billion steps for 4,000 changed files among 400,000).
  const wanting = new Map<string, ManifestFile[]>();
  for (const f of manifest.files) {
    if (!f.chunks.some((h) => missing.has(h))) continue;
    const shape = `${f.size}/${f.chunks.length}`;
    const list = wanting.get(shape);
    if (list) list.push(f);
    else wanting.set(shape, [f]);
  }
  const best = new Map<ManifestFile, { file: ManifestFile; score: number; from: string }>();
  if (wanting.size === 0) return new Map();
  // A few read at once; each is scored and dropped as it arrives.
  await runBounded([...remoteManifests], 8, async (m) => {
    for (const g of (await load(m)).files) {
      for (const f of wanting.get(`${g.size}/${g.chunks.length}`) ?? []) {
        let score = 0;
        for (let i = 0; i < f.chunks.length; i++) if (g.chunks[i] === f.chunks[i]) score++;
        const cur = best.get(f);
        // Ties go to the smaller manifest hash, so the choice does not depend on which read finished first.
        if (score > (cur?.score ?? 0) || (cur && score === cur.score && m < cur.from)) best.set(f, { file: g, score, from: m });
      }
    }
  });
  const bases = new Map<string, string>();
  for (const [f, { file: g }] of best) {
    f.chunks.forEach((h, i) => {
      const b = g.chunks[i]!;
      if (missing.has(h) && b !== h && g.sizes[i] === f.sizes[i] && !bases.has(h)) bases.set(h, b);
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
    const budget = Math.floor(data.length * DELTA_BUDGET);
    const notHere = (e: unknown) => {
      if ((e as { code?: unknown }).code === 'NOT_FOUND') return null; // not here (pushed from a file elsewhere): send whole
      throw e;
    };
    // A few KiB of the base first: a chunk rewritten throughout (most of them) is refused without
    // reading the rest of its base. Both reads are unverified; the base is verified before it is used.
    const sampled = await this.store.readRanges('chunk', base, sampleOffsets(data.length), SAMPLE_BYTES).catch(notHere);
    if (!sampled || !samplesMayFit(data, sampled, budget)) return null;
    const b = await this.store.getPooled('chunk', base, data.length, this.pool, false).catch(notHere);
    if (!b) return null;
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
  return async (base, size) => (await store.getChunkIfHere(base)) ?? readWhole(base, size);
}

/**
 * Rebuilds chunk `hash` from a delta on the remote, or returns null when the remote has no delta for it.
 * The result is verified against `hash` and `size`.
 */
export async function readChunkFromDelta(remote: Remote, hash: string, size: number, readBase: BaseReader): Promise<Buffer | null> {
  let found: ListedDelta | undefined;
  for await (const d of listDeltas(remote, hash)) {
    found = d; // deltas of one chunk are few (one per base); any of them rebuilds it
    break;
  }
  if (!found) return null;
  const what = `delta ${found.key} on ${remote.displayUrl}`;
  const delta = await readAll(await remote.get(found.key), 2 * size + 1024);
  const header = deltaHeader(delta, what);
  if (header.base !== found.base || header.size !== size) throw new IntegrityError(`${what} does not match its name (base ${header.base}, ${header.size} bytes)`, { hash });
  const data = applyDelta(delta, await readBase(header.base, size), what);
  const actual = createHasher().update(data).digest();
  if (actual !== hash) throw new IntegrityError(`chunk ${hash} rebuilt from ${what} is corrupt (hashes to ${actual}); nothing was written`, { hash });
  return data;
}

