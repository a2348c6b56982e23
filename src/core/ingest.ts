// Snapshotting a file or directory into the object store: chunk, hash, store new chunks, then the
// manifest (manifest-spec.md, "Manifests"). Streams with one reused read buffer; chunk writes overlap
// with chunking, bounded so memory stays flat whatever the size.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { chunkFile, DEFAULT_CHUNKER, DEFAULT_SAFETENSORS_CHUNKER, FASTCDC_ALG, type ChunkerParams } from './chunker.js';
import { safetensorsCuts, safetensorsLayout } from './cutters/safetensors.js';
import { hashBytes } from './hash.js';
import { encodeManifest, type Manifest, type ManifestFile } from './manifest.js';
import type { ObjectStore } from './store.js';
import { REPO_DIR } from './repo.js';

export interface IngestProgress {
  /** Bytes read and chunked so far. */
  bytesDone: number;
  bytesTotal: number;
  /** Of bytesDone, bytes whose chunks were new to the store. */
  bytesNew: number;
}

export interface IngestOptions {
  /** 'auto' (default): tensor-aware cutting where the format is known, FastCDC elsewhere. */
  chunker?: ChunkerParams | 'auto';
  onProgress?: (p: IngestProgress) => void;
  /** Chunk writes in flight at once. */
  writeConcurrency?: number;
}

export interface IngestResult {
  manifest: Manifest;
  manifestHash: string;
  bytes: number;
  bytesNew: number;
  chunks: number;
  chunksNew: number;
}

/** Regular files under a directory, sorted, as '/'-separated relative paths. Symlinks are refused. */
export async function listFiles(root: string): Promise<{ rel: string; abs: string; size: number; mode: number }[]> {
  const out: { rel: string; abs: string; size: number; mode: number }[] = [];
  const walk = async (dir: string, prefix: string) => {
    const ents = await fs.readdir(dir, { withFileTypes: true });
    ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of ents) {
      const abs = path.join(dir, e.name);
      const rel = prefix + e.name;
      if (e.name === REPO_DIR) continue;
      if (e.isDirectory()) await walk(abs, rel + '/');
      else if (e.isFile()) {
        const st = await fs.stat(abs);
        out.push({ rel, abs, size: st.size, mode: st.mode & 0o777 });
      } else throw new UsageError(`cannot snapshot ${abs}: only regular files and directories are supported (symlinks and devices are not)`);
    }
  };
  await walk(root, '');
  return out;
}

export async function ingestPath(store: ObjectStore, target: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const st = await fs.lstat(target).catch(() => null);
  if (!st) throw new UsageError(`no such file or directory: ${target}`);
  if (st.isSymbolicLink()) throw new UsageError(`${target} is a symlink; add the file it points at`);
  const isDir = st.isDirectory();
  if (!isDir && !st.isFile()) throw new UsageError(`${target} is not a regular file or directory`);
  const files = isDir ? await listFiles(target) : [{ rel: path.basename(target), abs: target, size: st.size, mode: st.mode & 0o777 }];

  const progress: IngestProgress = { bytesDone: 0, bytesTotal: files.reduce((n, f) => n + f.size, 0), bytesNew: 0 };
  const writer = new BoundedWriter(store, opts.writeConcurrency ?? 8);
  let chunks = 0;
  const entries: ManifestFile[] = [];
  try {
    for (const f of files) {
      const { chunker, lengths } = await chooseCutter(f.abs, f.size, opts.chunker ?? 'auto');
      const entry: ManifestFile = { path: f.rel, size: 0, mode: f.mode, chunker, chunks: [], sizes: [] };
      for await (const c of chunkFile(f.abs, chunker, undefined, lengths)) {
        const hash = hashBytes(c.data);
        entry.chunks.push(hash);
        entry.sizes.push(c.data.length);
        entry.size += c.data.length;
        chunks++;
        if (await writer.add(hash, c.data)) progress.bytesNew += c.data.length;
        progress.bytesDone += c.data.length;
        opts.onProgress?.(progress);
      }
      entries.push(entry);
    }
    await writer.flush();
  } catch (e) {
    await writer.flush().catch(() => {});
    throw e;
  }
  const manifest: Manifest = { format: 1, type: isDir ? 'dir' : 'file', files: entries };
  const encoded = encodeManifest(manifest);
  const manifestHash = await store.putBytes('manifest', encoded);
  return { manifest, manifestHash, bytes: progress.bytesDone, bytesNew: progress.bytesNew, chunks, chunksNew: writer.written };
}

/** Tensor-aware cutting for formats whose layout we can read and trust; FastCDC for everything else. */
async function chooseCutter(file: string, size: number, choice: ChunkerParams | 'auto'): Promise<{ chunker: ChunkerParams; lengths?: number[] }> {
  if (choice !== 'auto') {
    if (choice.alg === FASTCDC_ALG) return { chunker: choice };
    const layout = await safetensorsLayout(file, size);
    return layout ? { chunker: choice, lengths: safetensorsCuts(layout, choice) } : { chunker: DEFAULT_CHUNKER };
  }
  const layout = await safetensorsLayout(file, size);
  if (layout) return { chunker: DEFAULT_SAFETENSORS_CHUNKER, lengths: safetensorsCuts(layout, DEFAULT_SAFETENSORS_CHUNKER) };
  return { chunker: DEFAULT_CHUNKER };
}

/** Writes new chunks with at most `limit` writes in flight; each chunk is copied out of the read buffer. */
class BoundedWriter {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly seen = new Set<string>();
  private failure: unknown = null;
  written = 0;
  constructor(
    private readonly store: ObjectStore,
    private readonly limit: number,
  ) {}

  /** Returns true if the chunk is new to the store (and is being written). */
  async add(hash: string, view: Buffer): Promise<boolean> {
    if (this.failure) throw this.failure;
    if (this.seen.has(hash)) return false;
    this.seen.add(hash);
    if (await this.store.has('chunk', hash)) return false;
    const data = Buffer.from(view);
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    const p: Promise<void> = this.store
      .put('chunk', hash, data)
      .then(() => {
        this.written++;
      })
      .catch((e) => {
        this.failure ??= e;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return true;
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }
}
