// add: snapshot a file or directory into the store, name it, write its pointer file, and keep the
// data itself out of git.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { ChunkerParams } from '../core/chunker.js';
import { ingestPath, type IngestProgress, type IngestResult } from '../core/ingest.js';
import type { Manifest } from '../core/manifest.js';
import { formatPointer, parsePointer, POINTER_SUFFIX } from '../core/pointer.js';
import type { Repository } from '../core/repo.js';
import { writeAtomic } from '../core/store.js';
import { recordWorktreeStat, unchangedFiles } from '../core/worktree.js';
import { assertNoSymlinkBelow, isReservedSegment } from '../core/write-scope.js';
import { assertRefName } from '../names.js';
import { loadManifest } from '../sync/manifests.js';

export interface AddOptions {
  repo: Repository;
  path: string;
  /** Defaults to the path relative to the repository root. */
  name?: string;
  /** 'auto' (default): tensor-aware where the format is known, FastCDC elsewhere. */
  chunker?: ChunkerParams | 'auto';
  /** Write PATH.ckpt and add PATH to .gitignore (default true). */
  pointer?: boolean;
  onProgress?: (p: IngestProgress) => void;
}

export interface AddResult {
  name: string;
  manifest: string;
  pointerPath?: string;
  bytes: number;
  bytesNew: number;
  chunks: number;
  chunksNew: number;
  files: number;
  /** Files read; the rest were unchanged since the last add or checkout by their stat (size, mtime, inode, ctime). */
  filesRead: number;
}

export async function add(opts: AddOptions): Promise<AddResult> {
  const { repo } = opts;
  const { abs, rel, name } = await checkAddable(repo, opts.path, opts.name);
  await repo.store.removeStaleTemps(); // a killed add leaves nothing behind once it is run again
  const since = Date.now();
  const previous = await previousSnapshot(repo, name, abs);
  // Files the stat cache vouches for are taken from the previous version unread (git's index trick).
  const unchanged = previous ? await unchangedFiles(repo, abs, previous.hash, previous.manifest) : undefined;
  const r = await ingestPath(repo.store, abs, { chunker: opts.chunker, previous: previous?.manifest, unchanged, onProgress: opts.onProgress });
  const pointerPath = await recordSnapshot(repo, { abs, rel, name, snapshot: r, setRef: true, pointer: opts.pointer !== false, since });
  return { name, manifest: r.manifestHash, pointerPath, bytes: r.bytes, bytesNew: r.bytesNew, chunks: r.chunks, chunksNew: r.chunksNew, files: r.files.length, filesRead: r.filesRead };
}

/**
 * Where PATH sits in the repository and the name it gets; refuses what cannot be snapshotted: a path
 * outside the repository, in .git/ or .ckptsync/, or reached through a symlinked folder (which could
 * lead anywhere, and the pointer file would be written there too). Shared with push --from-file.
 */
export async function checkAddable(repo: Repository, file: string, name?: string): Promise<{ abs: string; rel: string; name: string }> {
  const abs = path.resolve(file);
  const rel = repo.relative(abs);
  if (rel === '' || rel === '..' || rel.startsWith('../')) throw new UsageError(`${file} is not inside the repository ${repo.root}`);
  if (rel.split('/').some(isReservedSegment)) throw new UsageError(`cannot add ${file}: it lies in the repository's own or git's folder`);
  if (abs.endsWith(POINTER_SUFFIX)) throw new UsageError(`${file} is a pointer file; add the checkpoint it stands for`);
  await assertNoSymlinkBelow(repo.root, path.dirname(abs));
  name ??= rel;
  assertRefName(name);
  return { abs, rel, name };
}

/**
 * The snapshot a new one of `name` at `abs` follows, if this repository holds its manifest: the one the
 * local name points at, else the one PATH.ckpt names (push --from-file sets no local name). Only a hint
 * for the chunker (ingestPath's `previous`): anything unreadable counts as no previous version.
 */
export async function previousVersion(repo: Repository, name: string, abs: string): Promise<Manifest | undefined> {
  return (await previousSnapshot(repo, name, abs))?.manifest;
}

/** previousVersion with the manifest's hash. */
async function previousSnapshot(repo: Repository, name: string, abs: string): Promise<{ hash: string; manifest: Manifest } | undefined> {
  const fromRef = async () => (await repo.readRef(name))?.target;
  const fromPointer = async () => parsePointer(await fs.readFile(abs + POINTER_SUFFIX)).manifest;
  for (const find of [fromRef, fromPointer]) {
    const hash = await find().catch(() => undefined);
    if (!hash) continue;
    const manifest = await loadManifest(repo, hash).catch(() => undefined);
    if (manifest) return { hash, manifest };
  }
  return undefined;
}

/**
 * After a snapshot's manifest is stored: the local name (unless setRef is false), PATH.ckpt, the .gitignore
 * entry and the worktree stat. Returns the pointer file's path when one was written.
 */
export async function recordSnapshot(
  repo: Repository,
  o: { abs: string; rel: string; name: string; snapshot: IngestResult; setRef: boolean; pointer: boolean; since: number },
): Promise<string | undefined> {
  const r = o.snapshot;
  let pointerPath: string | undefined;
  await repo.withLock(async () => {
    if (o.setRef) await repo.setRef(o.name, r.manifestHash);
    if (o.pointer) {
      pointerPath = o.abs + POINTER_SUFFIX;
      await writeAtomic(pointerPath, formatPointer({ manifest: r.manifestHash, size: r.bytes, name: o.name }));
      await ignoreInGit(repo.root, o.rel);
    }
    await recordWorktreeStat(repo, o.abs, r.manifestHash, r.manifest, o.since, r.files); // status then knows it unchanged without re-reading
  });
  return pointerPath;
}

/** Adds "/<rel>" to the root .gitignore unless it is already there. */
async function ignoreInGit(root: string, rel: string): Promise<void> {
  const file = path.join(root, '.gitignore');
  const line = '/' + rel.replace(/([*?[\]!#\\ ])/g, '\\$1');
  let text = '';
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text.split('\n').includes(line)) return;
  await writeAtomic(file, text + (text && !text.endsWith('\n') ? '\n' : '') + line + '\n');
}
