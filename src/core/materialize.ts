// Writing a snapshot's files from the object store (checkout). Every chunk is verified as it is read;
// each file is written to a temp file and renamed into place; paths were validated when the manifest
// was decoded, and here no parent directory below `within` may be a symlink and no path may enter a
// .git or .ckptsync folder (write-scope.ts), so nothing is written outside the destination.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UnsafePathError } from '../errors.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { runBounded } from './bounded.js';
import { chunkRanges } from './store-by-copy.js';
import { nativeStore, replaceFile } from './store-chunk.js';
import { tempPathFor, type ObjectStore } from './store.js';
import { removeStaleTemps } from './temps.js';
import { assertNotReserved } from './write-scope.js';

export interface MaterializeOptions {
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Chunks read ahead of the writer. */
  readAhead?: number;
  /** The folder below which every component of the destination must be a real directory (default: dest's parent). */
  within?: string;
}

/** Where each file of the manifest goes: for a file snapshot, dest itself; for a directory, dest/<path>. */
export function targetOf(manifest: Manifest, dest: string, file: ManifestFile): string {
  return manifest.type === 'file' ? dest : joinBelow(dest, file.path);
}

/**
 * path.join(dir, ...rel.split('/')) for a '/'-separated path with no '.', '..' or empty segment (a
 * manifest's paths were checked so as they were decoded; a listing's come from the file system): below an
 * absolute folder that is already normal, the joined path is too, and is not normalized again. That cost
 * ~5% of the CPU of a pull of 10,000 small files, each file's target being asked for several times.
 */
export function joinBelow(dir: string, rel: string): string {
  if (path.sep === '/' && isNormal(dir)) return dir === '/' ? dir + rel : `${dir}/${rel}`;
  return path.join(dir, ...rel.split('/'));
}

let lastNormal = '';
/** Whether `dir` is absolute and path.join would leave it as it is (the last folder that was is remembered). */
function isNormal(dir: string): boolean {
  if (dir === lastNormal) return true;
  if (!path.isAbsolute(dir) || (dir.endsWith('/') && dir !== '/') || path.normalize(dir) !== dir) return false;
  lastNormal = dir;
  return true;
}

/**
 * The mode a written file gets from its manifest entry: permission bits only (no setuid, setgid or
 * sticky), always readable by its owner, and filtered by the umask (the file is created with it).
 */
export function fileModeOf(f: ManifestFile): number {
  return ((f.mode & 0o777) || 0o644) | 0o400;
}

export async function materialize(store: ObjectStore, manifest: Manifest, dest: string, opts: MaterializeOptions = {}): Promise<{ files: number; bytes: number }> {
  const absDest = path.resolve(dest);
  // Refuse early, before writing anything, if any chunk is missing.
  for (const f of manifest.files) {
    for (const h of f.chunks) {
      if (!(await store.readable(h))) throw new NotFoundError(`chunk ${h} of ${f.path} is not in the local store; pull it first`, { hash: h });
    }
  }
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  await prepareDest(manifest, absDest, opts.within);
  const swept = new Set<string>();
  for (const f of manifest.files) {
    const { target, tmp, fh } = await openTemp(manifest, absDest, f, swept, opts.within);
    try {
      if (nativeStore) {
        // Each chunk written at its offset by one thread-pool job that hashes it as it goes (store-chunk.ts).
        const pieces = chunkRanges(f.sizes).map((r, i) => ({ ...r, hash: f.chunks[i]! }));
        await runBounded(pieces, 4, async ({ hash, offset, size }) => {
          await store.writeChunkTo(hash, size, { fd: fh.fd, offset, name: tmp });
          done += size;
          opts.onProgress?.(done, total);
        });
      } else {
        await forEachOrdered(f.chunks, opts.readAhead ?? 8, (h) => store.get('chunk', h), async (data) => {
          await fh.write(data);
          done += data.length;
          opts.onProgress?.(done, total);
        });
      }
      await fh.close();
      if (replaceFile(tmp, target)) await fs.rm(tmp, { force: true }); // the old file, exchanged out
    } catch (e) {
      await fh.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }
  return { files: manifest.files.length, bytes: total };
}

/**
 * Creates the destination's parent and, for a directory snapshot, the destination itself: below `within`
 * as real directories (ensureDir); without `within`, the parent is the user's choice and made as given.
 */
export async function prepareDest(manifest: Manifest, absDest: string, within?: string): Promise<void> {
  if (within) await ensureDir(path.dirname(absDest), within);
  else await fs.mkdir(path.dirname(absDest), { recursive: true });
  if (manifest.type === 'dir') await ensureDir(absDest, path.dirname(absDest));
}

/** Opens a new temp file beside the file's target, its directory checked and swept (fileDir). */
export async function openTemp(manifest: Manifest, absDest: string, f: ManifestFile, swept: Set<string>, within?: string): Promise<{ target: string; tmp: string; fh: fs.FileHandle }> {
  const target = await fileDir(manifest, absDest, f, swept, within);
  const tmp = tempPathFor(target);
  // Created with the mode, so the umask applies; a chmod afterwards would bypass it.
  return { target, tmp, fh: await fs.open(tmp, 'wx', fileModeOf(f)) };
}

/**
 * A file's target, once its directory is ready: every component below `within` a real directory
 * (ensureDir) and swept of dead runs' temps, both once per directory per run (`swept`): for 10,000
 * small files in 100 folders, an lstat of each component per file was ~20,000 thread-pool round trips.
 */
export async function fileDir(manifest: Manifest, absDest: string, f: ManifestFile, swept: Set<string>, within?: string): Promise<string> {
  if (manifest.type === 'dir') assertNotReserved(f.path, path.join(absDest, f.path));
  const target = targetOf(manifest, absDest, f);
  const dir = path.dirname(target);
  if (!swept.has(dir)) {
    await ensureDir(dir, within ?? (manifest.type === 'dir' ? absDest : path.dirname(absDest)));
    await removeStaleTempsOnce(dir, swept);
  }
  return target;
}

/** Removes temp files a killed run left in dir (see temps.ts), once per directory per run. */
async function removeStaleTempsOnce(dir: string, swept: Set<string>): Promise<void> {
  swept.add(dir);
  await removeStaleTemps(dir);
}

/** Creates dir and its parents below `inside`, refusing any existing component that is a symlink or a file. */
async function ensureDir(dir: string, inside: string): Promise<void> {
  const rel = path.relative(inside, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UnsafePathError(`refusing to write outside ${inside}: ${dir}`);
  let cur = inside;
  for (const part of rel.split(path.sep).filter(Boolean)) {
    cur = path.join(cur, part);
    const st = await fs.lstat(cur).catch(() => null);
    if (!st) await fs.mkdir(cur).catch((e) => { if (e.code !== 'EEXIST') throw e; });
    else if (st.isSymbolicLink()) throw new UnsafePathError(`refusing to write through the symlink ${cur}`);
    else if (!st.isDirectory()) throw new UnsafePathError(`${cur} exists and is not a directory`);
  }
}

/** Runs produce() over items with `ahead` in flight and hands results to consume() in order. */
export async function forEachOrdered<T, R>(items: readonly T[], ahead: number, produce: (item: T) => Promise<R>, consume: (r: R) => Promise<void>): Promise<void> {
  const pending: Promise<R>[] = [];
  let next = 0;
  const fill = () => {
    while (next < items.length && pending.length < ahead) {
      const p = produce(items[next++]!);
      p.catch(() => {}); // surfaced when awaited below
      pending.push(p);
    }
  };
  fill();
  while (pending.length) {
    const r = await pending.shift()!;
    fill();
    await consume(r);
  }
}
