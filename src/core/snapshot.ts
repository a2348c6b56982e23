// Taking a snapshot of a path in the repository, the steps add, push --from-file, upload and watch share:
// where the path sits and the name it gets (checkAddable), the version it follows (previousVersion: a hint
// for the chunker), and what is written once its manifest is stored (recordSnapshot: the local name,
// PATH.ckpt, the .gitignore entry, the worktree stat). The chunking itself is ingest.ts.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { assertRefName } from '../names.js';
import type { IngestResult } from './ingest.js';
import { readStoredManifest, type Manifest } from './manifest.js';
import { formatPointer, parsePointer, POINTER_SUFFIX } from './pointer.js';
import type { Repository } from './repo.js';
import { writeAtomic } from './store.js';
import { recordWorktreeStat } from './worktree.js';
import { assertNoSymlinkBelow, isReservedSegment } from './write-scope.js';

/**
 * Where PATH sits in the repository and the name it gets; refuses what cannot be snapshotted: a path
 * outside the repository, in .git/ or .ckptsync/, or reached through a symlinked folder (which could
 * lead anywhere, and the pointer file would be written there too).
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
export async function previousSnapshot(repo: Repository, name: string, abs: string): Promise<{ hash: string; manifest: Manifest } | undefined> {
  const fromRef = async () => (await repo.readRef(name))?.target;
  const fromPointer = async () => parsePointer(await fs.readFile(abs + POINTER_SUFFIX)).manifest;
  for (const find of [fromRef, fromPointer]) {
    const hash = await find().catch(() => undefined);
    if (!hash) continue;
    const manifest = await readStoredManifest(repo.store, hash).catch(() => undefined);
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
