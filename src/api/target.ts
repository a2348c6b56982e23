// What a command's CHECKPOINT argument names: a pointer file, a path that was added (its pointer is
// beside it), or a name in the repository.

import { pathExists } from 'fs-extra';
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../errors.js';
import { parsePointer, POINTER_SUFFIX, type Pointer } from '../core/pointer.js';
import type { Repository } from '../core/repo.js';
import { isRefName } from '../remote/layout.js';

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
      const pointer = await readPointerFile(abs);
      return { name: pointer.name, manifest: pointer.manifest, pointer, pointerPath: abs, dataPath: abs.slice(0, -POINTER_SUFFIX.length) };
    }
  }
  if (isRefName(arg)) {
    const ref = await repo.readRef(arg);
    if (ref) return { name: arg, manifest: ref.target };
    if (opts.allowRemoteName) return { name: arg };
  }
  throw new NotFoundError(`${arg} is neither a pointer file, an added path, nor a name in this repository`, { arg });
}
