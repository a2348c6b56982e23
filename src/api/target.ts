// What a command's CHECKPOINT argument names: a pointer file, a path that was added (its pointer is
// beside it), or a name in the repository.

import { pathExists } from 'fs-extra';
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.js';
import type { Manifest } from '../core/manifest.js';
import { dataPathOf, parsePointer, POINTER_SUFFIX, type Pointer } from '../core/pointer.js';
import type { Repository } from '../core/repo.js';
import { destinationInRepo, explicitDestination, type Destination } from '../core/write-scope.js';
import { isRefName } from '../names.js';

export interface Target {
  /** The name it is known by (from the pointer or the argument). */
  name?: string;
  /** The manifest, when known locally (pointer or local name). */
  manifest?: string;
  pointer?: Pointer;
  pointerPath?: string;
  /** Where the data lives in the working tree (pointer path without .ckpt). */
  dataPath?: string;
}

export async function readPointerFile(file: string): Promise<Pointer> {
  const st = await fs.stat(file);
  if (st.size > 1024) return parsePointer(Buffer.alloc(1025), file); // throws: too large
  return parsePointer(await fs.readFile(file), file);
}

export async function resolveTarget(repo: Repository, arg: string, opts: { allowRemoteName?: boolean } = {}): Promise<Target> {
  const candidates = arg.endsWith(POINTER_SUFFIX) ? [arg] : [arg + POINTER_SUFFIX];
  for (const c of candidates) {
    const abs = path.resolve(c);
    if (await pathExists(abs)) {
      const dataPath = dataPathOf(abs);
      const pointer = await readPointerFile(abs);
      return { name: pointer.name, manifest: pointer.manifest, pointer, pointerPath: abs, dataPath };
    }
  }
  if (isRefName(arg)) {
    const ref = await repo.readRef(arg);
    if (ref) return { name: arg, manifest: ref.target };
    if (opts.allowRemoteName) return { name: arg };
  }
  throw new NotFoundError(`${arg} is neither a pointer file, an added path, nor a name in this repository`, { arg });
}

/**
 * Where pull and checkout write a target: --to as the user gave it, else beside its pointer file or under
 * its name in the repository, checked by write-scope.ts before anything is written.
 */
export async function destinationOf(repo: Repository, t: Target, to?: string): Promise<Destination> {
  if (to !== undefined) return explicitDestination(to);
  return destinationInRepo(repo.root, t.dataPath ?? path.join(repo.root, ...t.name!.split('/')));
}

/** A pointer's size must be its manifest's: a pointer edited by hand, or merged wrongly, is refused. */
export function checkPointerSize(t: Target, manifest: Manifest): void {
  if (!t.pointer) return;
  const size = manifest.files.reduce((n, f) => n + f.size, 0);
  if (size !== t.pointer.size) {
    throw new UsageError(`${t.pointerPath} says ${t.pointer.size} bytes but its manifest ${t.pointer.manifest.slice(0, 16)} holds ${size}; the pointer file is wrong`, { path: t.pointerPath });
  }
}
