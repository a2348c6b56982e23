// read: a byte range of one file of a remote checkpoint, fetching only the chunks that cover it (for
// random access from Python's fsspec file system). Chunks are verified and kept in the shared cache's
// store, so reading the same range again downloads nothing; `describe` lists a checkpoint's files.

import { NotFoundError, UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import type { Manifest } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from '../sync/manifests.js';
import { downloadChunk, remoteBases } from '../sync/pull.js';
import { readRemoteRef } from '../sync/refs.js';
import { openRemoteFor } from './remote.js';

/** Bytes one read may return: the answer travels as one JSON line. */
export const MAX_READ_BYTES = 16 << 20;

export interface ReadOptions {
  /** The checkpoint's name on the remote. */
  name: string;
  /** The file inside a directory checkpoint (default: the only file of a file checkpoint). */
  file?: string;
  offset: number;
  length: number;
  repo?: Repository | null;
  remote?: string | Remote;
  cacheDir?: string;
}

export interface ReadResult {
  manifest: string;
  data: Buffer;
  /** Chunks covering the range, and of them those downloaded (the rest were in the cache's store). */
  chunksRead: number;
  chunksDownloaded: number;
  bytesDownloaded: number;
}

export interface DescribeResult {
  name: string;
  manifest: string;
  type: 'file' | 'dir';
  bytes: number;
  files: { path: string; size: number }[];
}

export async function describe(opts: Omit<ReadOptions, 'offset' | 'length' | 'file'>): Promise<DescribeResult> {
  return withSnapshot(opts, async ({ manifest, m }) => ({
    name: opts.name,
    manifest,
    type: m.type,
    bytes: m.files.reduce((n, f) => n + f.size, 0),
    files: m.files.map((f) => ({ path: f.path, size: f.size })),
  }));
}

export async function readRange(opts: ReadOptions): Promise<ReadResult> {
  if (!Number.isSafeInteger(opts.offset) || opts.offset < 0) throw new UsageError('offset must be a whole number >= 0');
  if (!Number.isSafeInteger(opts.length) || opts.length < 0 || opts.length > MAX_READ_BYTES) throw new UsageError(`length must be a whole number from 0 to ${MAX_READ_BYTES}`);
  return withSnapshot(opts, async ({ manifest, m, cache, remote }) => {
    const f = opts.file === undefined && m.type === 'file' ? m.files.at(0) : m.files.find((x) => x.path === opts.file);
    if (!f) throw new NotFoundError(`${opts.name} has no file ${opts.file ?? '(a directory checkpoint: name one of its files)'}`, { name: opts.name });
    const end = Math.min(f.size, opts.offset + opts.length);
    const result: ReadResult = { manifest, data: Buffer.alloc(0), chunksRead: 0, chunksDownloaded: 0, bytesDownloaded: 0 };
    const parts: Buffer[] = [];
    const bases = remoteBases(cache, remote);
    let at = 0;
    for (let i = 0; i < f.chunks.length && at < end; at += f.sizes[i]!, i++) {
      const size = f.sizes[i]!;
      if (at + size <= opts.offset) continue;
      const h = f.chunks[i]!;
      let chunk: Buffer;
      const local = await cache.store.getChunkIfHere(h);
      if (local) chunk = local;
      else {
        const got = await downloadChunk(remote, h, size, undefined, bases); // verified against h
        chunk = Buffer.concat(got.data);
        got.release();
        await cache.store.put('chunk', h, chunk);
        result.chunksDownloaded++;
        result.bytesDownloaded += size;
      }
      result.chunksRead++;
      parts.push(chunk.subarray(Math.max(0, opts.offset - at), Math.min(size, end - at)));
    }
    result.data = Buffer.concat(parts);
    return result;
  });
}

async function withSnapshot<T>(
  opts: { name: string; repo?: Repository | null; remote?: string | Remote; cacheDir?: string },
  fn: (s: { manifest: string; m: Manifest; cache: Repository; remote: Remote }) => Promise<T>,
): Promise<T> {
  const cache = (await CheckpointCache.open(await cacheDirFor({ cacheDir: opts.cacheDir, repo: opts.repo }))).repo;
  const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote);
  try {
    const ref = await readRemoteRef(remote, opts.name);
    if (!ref) throw new NotFoundError(`no checkpoint named ${opts.name} on ${remote.displayUrl}`, { name: opts.name });
    const manifest = ref.doc.target;
    return await fn({ manifest, m: await loadManifest(cache, manifest, remote), cache, remote });
  } finally {
    if (owned) await remote.close();
  }
}
