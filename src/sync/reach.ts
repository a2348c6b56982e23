// What the names on a remote reach (manifest-spec.md §10b): each name's target and every target in its
// history (history is how an old version is restored), and the chunks those manifests name. gc keeps it,
// clean drops local copies only of it, push counts it as already there.

import { ChunkTable, Uint32List } from '../core/chunk-table.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { isBadObject, loadManifestChunks, readRemoteManifestChunks } from './manifests.js';
import { listRemoteRefs, type BadRemoteRef, type RemoteRef } from './refs.js';
import { runBounded } from './transfer.js';

export interface NamesReach {
  /** The readable refs, sorted by name. */
  refs: RemoteRef[];
  /** Refs that could not be read (with `name`) and stray keys under refs/ (without): see listRemoteRefs. */
  bad: BadRemoteRef[];
  /** Every manifest a readable ref names as its target or in its history, in ref order. */
  manifests: Set<string>;
}

/** The manifests the remote's names reach. A bad ref is returned in `bad`, never thrown (§6.2). */
export async function namedManifests(remote: Remote): Promise<NamesReach> {
  const { refs, bad } = await listRemoteRefs(remote);
  const manifests = new Set<string>();
  for (const ref of refs) {
    manifests.add(ref.doc.target);
    for (const e of ref.doc.history) manifests.add(e.target);
  }
  return { refs, bad, manifests };
}

export interface ManifestsRead {
  /** Chunks the readable manifests name (as bytes: a Set of 400,000 hashes was ~45 MB). */
  chunks: ChunkTable;
  /** The manifests that were read and verified. */
  readable: Set<string>;
  /** Manifests that are missing, corrupt or invalid, with why: their chunks are unknown. */
  bad: Map<string, string>;
  /** Of `bad`, those the remote does not hold at all (rather than holds damaged). */
  missing: Set<string>;
}

/** How the manifests are read: at most `concurrency` at once, and at most MANIFEST_BYTES_AT_ONCE of them (`sizeOf`, as listed). */
export interface ReadManifestsOptions {
  concurrency?: number;
  sizeOf?: (manifest: string) => number | undefined;
}

/**
 * Manifests read at once, in bytes listed: each is a table of its chunks while it is read (~50 bytes a
 * chunk beside ~30 a file), and a push that read its remote's two manifests of 400,000 small files
 * together held both.
 */
const MANIFEST_BYTES_AT_ONCE = 64 << 20;

/**
 * Chunks the remote holds according to the given manifests. With a repository, manifests it lacks are
 * fetched into its store (loadManifest); with null they are read, verified and dropped. A bad manifest is
 * set aside in `bad` instead of failing the whole read (manifest-spec.md §9): nothing is assumed about its
 * chunks. Network and permission failures still throw.
 */
export async function chunksOfManifests(repo: Repository | null, remote: Remote, manifests: Iterable<string>, opts: ReadManifestsOptions = {}): Promise<ManifestsRead> {
  const out: ManifestsRead = { chunks: new ChunkTable(), readable: new Set(), bad: new Map(), missing: new Set() };
  let first = true;
  await eachManifestChunks(remote, manifests, opts, out, async (h) => {
    // Chunks only: each record is checked, but no file entry is built.
    const chunks = repo ? await loadManifestChunks(repo, h, remote) : await readRemoteManifestChunks(remote, h);
    // The first table read becomes the answer (not copied); the others are added to it.
    if (first) (first = false), (out.chunks = chunks);
    else for (let id = 0; id < chunks.count; id++) out.chunks.addRaw(chunks.rawAt(id), chunks.sizeOf(id));
  });
  return out;
}

/**
 * Which chunks of `wanted` the given manifests name (held[id] is 1), read as chunksOfManifests reads
 * them: what a push needs to know, without a table of every chunk on the remote. Each manifest's chunks
 * of `wanted` are marked as it is decoded (ChunkMarks), in marks of its own that count once it is read
 * and verified whole.
 */
export async function heldOf(repo: Repository, remote: Remote, manifests: Iterable<string>, wanted: ChunkTable, opts: ReadManifestsOptions = {}): Promise<Omit<ManifestsRead, 'chunks'> & { held: Uint8Array }> {
  const out = { held: new Uint8Array(wanted.count), readable: new Set<string>(), bad: new Map<string, string>(), missing: new Set<string>() };
  const read = async (h: string) => {
    const marks = { wanted, marked: new Uint32List() };
    await loadManifestChunks(repo, h, remote, marks);
    for (let i = 0; i < marks.marked.length; i++) out.held[marks.marked.at(i)] = 1;
  };
  await eachManifestChunks(remote, manifests, opts, out, read);
  return out;
}

/** Reads each manifest with `read`, setting a bad one aside in `out` (chunksOfManifests). */
async function eachManifestChunks(remote: Remote, manifests: Iterable<string>, opts: ReadManifestsOptions, out: Omit<ManifestsRead, 'chunks'>, read: (h: string) => Promise<void>): Promise<void> {
  const weigh = opts.sizeOf && ((h: string) => opts.sizeOf!(h) ?? 0);
  await runBounded(
    [...manifests],
    opts.concurrency ?? 8,
    async (h) => {
      try {
        await read(h);
      } catch (e) {
        if (!isBadObject(e)) throw e;
        out.bad.set(h, (e as Error).message);
        if ((e as { code?: unknown }).code === 'NOT_FOUND') out.missing.add(h);
        return;
      }
      out.readable.add(h);
    },
    { weigh, maxWeight: MANIFEST_BYTES_AT_ONCE },
  );
}
