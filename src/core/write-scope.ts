// Where pull and checkout may write (manifest-spec.md §7a, "Writing into the working tree"). A
// destination derived from input (a pointer file's name, a checkpoint name) must lie inside the
// repository, never in .git/ or .ckptsync/, and be reached without passing a symlink; an explicit --to
// is the user's own choice of place, but not a .git or .ckptsync folder either. The checks here run
// before the first byte; materialize's ensureDir repeats the symlink check as it creates or enters each
// folder, so a link planted meanwhile is refused too.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UnsafePathError } from '../errors.js';
import { REPO_DIR } from './repo.js';

/** Folders nothing may be written into: git's and ours. Any case, for case-insensitive file systems. */
const RESERVED = new Set(['.git', REPO_DIR]);

export function isReservedSegment(segment: string): boolean {
  return RESERVED.has(segment.toLowerCase());
}

/** Refuses a relative path (manifest path or repository-relative path) with a .git or .ckptsync part. */
export function assertNotReserved(rel: string, what: string): void {
  const hit = rel.split(/[\\/]/).find(isReservedSegment);
  if (hit) throw new UnsafePathError(`refusing to write ${what}: it lies in a ${hit} folder`, { path: what });
}

/**
 * Where to write, and the folder below which every component must be a real directory (no symlink);
 * without `within`, the destination's parent folders are the user's to choose and made as given.
 */
export interface Destination {
  path: string;
  within?: string;
}

/**
 * A destination computed from input: inside the repository root, not in a reserved folder, and with no
 * symlink on the way from the root (checked with lstat, so a link is refused, not followed).
 */
export async function destinationInRepo(root: string, target: string): Promise<Destination> {
  const abs = path.resolve(target);
  const rel = path.relative(root, abs);
  if (rel === '' || rel === '..' || rel.startsWith('..' + path.sep) || path.isAbsolute(rel)) {
    throw new UnsafePathError(`refusing to write ${abs}: it is not inside the repository ${root}`, { path: abs });
  }
  assertNotReserved(rel, abs);
  await assertNoSymlinkBelow(root, path.dirname(abs));
  return { path: abs, within: root };
}

/**
 * An explicit destination (--to): wherever the user says, as long as its real location (symlinks
 * resolved, for the part that exists) is not in a reserved folder. Below it, no symlink is followed.
 */
export async function explicitDestination(target: string): Promise<Destination> {
  const abs = path.resolve(target);
  const real = await realLocation(abs);
  assertNotReserved(real, abs);
  return { path: abs };
}

/** Throws when an existing component of `dir` below `root` is a symlink or not a directory (for reads as for writes). */
export async function assertNoSymlinkBelow(root: string, dir: string): Promise<void> {
  let cur = root;
  for (const part of path.relative(root, dir).split(path.sep).filter(Boolean)) {
    cur = path.join(cur, part);
    const st = await fs.lstat(cur).catch(() => null);
    if (!st) return; // created later, by ensureDir, as a real directory
    if (st.isSymbolicLink()) throw new UnsafePathError(`refusing to follow the symlink ${cur}: it may lead out of ${root}`, { path: cur });
    if (!st.isDirectory()) throw new UnsafePathError(`${cur} exists and is not a directory`, { path: cur });
  }
}

/** The real path of p's deepest existing ancestor, joined with the rest of p. */
async function realLocation(p: string): Promise<string> {
  let head = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(head), ...rest.reverse());
    } catch {
      const up = path.dirname(head);
      if (up === head) return p;
      rest.push(path.basename(head));
      head = up;
    }
  }
}
