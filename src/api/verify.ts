// verify: re-hash the local store; with a remote, check that every manifest's chunks are there (whole, or
// as a delta whose base is there whole: spec §8a) and every name points at a manifest that exists.

import { hashBytes } from '../core/hash.js';
import { manifestChunks, readStoredManifest } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { readChunkFromDelta } from '../sync/chunk-deltas.js';
import { listDeltas, listObjects } from '../sync/listing.js';
import { fetchFromPacks, PackIndex } from '../sync/packs.js';
import { readStoredChunk } from '../sync/pull.js';
import { runBounded } from '../sync/transfer.js';
import { isBadObject, loadManifest } from '../sync/manifests.js';
import { listRemoteRefs } from '../sync/refs.js';
import fs from 'node:fs/promises';
import { openRemoteFor } from './remote.js';

export interface VerifyProblem {
  kind: 'corrupt-chunk' | 'corrupt-manifest' | 'missing-chunk' | 'missing-manifest' | 'bad-ref';
  object: string;
  detail: string;
}

export interface VerifyResult {
  where: string;
  chunks: number;
  manifests: number;
  names: number;
  /** Local: chunks of named snapshots that `clean` dropped because the remote holds them. */
  remoteOnly?: number;
  /** Local: chunks of named snapshots held in files that pull or resolve wrote (§7b), each read and verified. */
  inFiles?: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  repo: Repository;
  remote?: string | Remote;
  /** With a remote: also download every chunk and check its hash (reads the whole remote). */
  deep?: boolean;
  concurrency?: number;
}

export async function verify(opts: VerifyOptions): Promise<VerifyResult> {
  return opts.remote === undefined ? verifyLocal(opts.repo) : verifyRemote(opts.repo, opts.remote, opts);
}

async function verifyLocal(repo: Repository): Promise<VerifyResult> {
  const problems: VerifyProblem[] = [];
  const r: VerifyResult = { where: repo.root, chunks: 0, manifests: 0, names: 0, problems };
  const chunks = new Set<string>();
  for await (const h of repo.store.list('chunk')) {
    r.chunks++;
    const data = await fs.readFile(repo.store.pathOf('chunk', h));
    if (hashBytes(data) !== h) problems.push({ kind: 'corrupt-chunk', object: h, detail: repo.store.pathOf('chunk', h) });
    else chunks.add(h);
  }
  const manifests = new Set<string>();
  // Manifests of remote snapshots are cached here without their chunks (push and verify --remote read
  // them), so only a snapshot a local name reaches must have every chunk present.
  const refs = await repo.listRefs().catch(() => []);
  const named = new Set(refs.map((d) => d.target));
  const cleaned = await repo.cleanedChunks();
  const reported = new Set(problems.map((p) => p.object));
  for await (const h of repo.store.list('manifest')) {
    r.manifests++;
    try {
      const m = await readStoredManifest(repo.store, h);
      manifests.add(h);
      if (!named.has(h)) continue;
      for (const c of manifestChunks(m).keys()) {
        if (chunks.has(c) || reported.has(c)) continue;
        reported.add(c);
        if (await inFile(repo, c)) r.inFiles = (r.inFiles ?? 0) + 1;
        else if (cleaned.has(c)) r.remoteOnly = (r.remoteOnly ?? 0) + 1;
        else problems.push({ kind: 'missing-chunk', object: c, detail: `named by manifest ${h}` });
      }
    } catch (e) {
      problems.push({ kind: 'corrupt-manifest', object: h, detail: (e as Error).message });
    }
  }
  for (const d of refs) {
    r.names++;
    if (!manifests.has(d.target)) problems.push({ kind: 'bad-ref', object: d.name, detail: `points at missing manifest ${d.target}` });
  }
  return r;
}

/** Whether a written file still holds the chunk where the placed index says (§7b), read and hashed. */
async function inFile(repo: Repository, hash: string): Promise<boolean> {
  return (await repo.store.getChunkIfHere(hash)) !== null;
}

async function verifyRemote(repo: Repository, spec: string | Remote, opts: VerifyOptions): Promise<VerifyResult> {
  const { remote, owned } = await openRemoteFor(repo, spec);
  try {
    const problems: VerifyProblem[] = [];
    const r: VerifyResult = { where: remote.displayUrl, chunks: 0, manifests: 0, names: 0, problems };
    const chunkSizes = new Map<string, number>();
    for await (const o of listObjects(remote, 'chunk')) chunkSizes.set(o.name, o.size);
    const deltaBase = new Map<string, string>();
    for await (const d of listDeltas(remote)) deltaBase.set(d.chunk, d.base);
    // Chunks only in packs (§8c) are held there; a pack whose header is bad holds nothing we can read.
    const packs = await PackIndex.load(remote);
    for (const [pack, why] of packs.bad) problems.push({ kind: 'corrupt-chunk', object: pack, detail: why });
    const packedOnly = new Set<string>();
    for (const e of packs.entries()) {
      if (chunkSizes.has(e.hash)) continue;
      chunkSizes.set(e.hash, e.length);
      packedOnly.add(e.hash);
    }
    r.chunks = chunkSizes.size;
    const deltaOnly = new Map<string, number>();
    if (opts.deep) {
      const onCorrupt = (e: { hash: string }, detail: string) => problems.push({ kind: 'corrupt-chunk', object: e.hash, detail });
      const unread = new Set(packedOnly);
      await fetchFromPacks(remote, packs.select((h) => unread.delete(h)), () => {}, { concurrency: opts.concurrency, onCorrupt });
      await runBounded([...chunkSizes.keys()].filter((h) => !packedOnly.has(h)), opts.concurrency ?? remote.features.defaultConcurrency, async (h) => {
        const data = await readStoredChunk(remote, h);
        const actual = hashBytes(data);
        if (actual !== h) problems.push({ kind: 'corrupt-chunk', object: h, detail: `its content hashes to ${actual}` });
      });
    }
    const manifests = new Set<string>();
    const corrupt = new Set<string>();
    for await (const o of listObjects(remote, 'manifest')) {
      r.manifests++;
      try {
        const m = await loadManifest(repo, o.name, remote);
        manifests.add(o.name);
        for (const [c, size] of manifestChunks(m)) {
          const got = chunkSizes.get(c);
          const base = deltaBase.get(c);
          if (got === undefined && base !== undefined) {
            if (!chunkSizes.has(base)) problems.push({ kind: 'missing-chunk', object: base, detail: `base of the delta of chunk ${c}` });
            else deltaOnly.set(c, size);
          } else if (got === undefined) problems.push({ kind: 'missing-chunk', object: c, detail: `named by manifest ${o.name}` });
          else if (got !== size) problems.push({ kind: 'corrupt-chunk', object: c, detail: `${got} bytes on the remote, ${size} expected` });
        }
      } catch (e) {
        if (!isBadObject(e)) throw e;
        corrupt.add(o.name);
        problems.push({ kind: 'corrupt-manifest', object: o.name, detail: (e as Error).message });
      }
    }
    if (opts.deep) {
      // A chunk stored only as a delta is rebuilt from its (whole, verified) base and checked against its hash.
      const wholeBase = async (b: string) => {
        const data = await readStoredChunk(remote, b);
        if (hashBytes(data) !== b) throw new Error(`its base ${b} is corrupt`);
        return data;
      };
      await runBounded([...deltaOnly], opts.concurrency ?? remote.features.defaultConcurrency, async ([c, size]) => {
        await readChunkFromDelta(remote, c, size, wholeBase).catch((e: Error) => problems.push({ kind: 'corrupt-chunk', object: c, detail: e.message }));
      });
    }
    const { refs, bad } = await listRemoteRefs(remote);
    r.names = refs.length + bad.filter((b) => b.name !== undefined).length;
    for (const b of bad) problems.push({ kind: 'bad-ref', object: b.name ?? b.key, detail: b.why });
    for (const ref of refs) {
      if (manifests.has(ref.doc.target)) continue;
      const detail = corrupt.has(ref.doc.target) ? `points at corrupt manifest ${ref.doc.target}` : `points at missing manifest ${ref.doc.target}`;
      problems.push({ kind: 'bad-ref', object: ref.name, detail });
    }
    return r;
  } finally {
    if (owned) await remote.close();
  }
}
