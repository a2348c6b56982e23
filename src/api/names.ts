// Where names come from for latest and prune: a remote's refs, a repository's refs, or the files in a
// directory (pointer files count under the name of the file they stand for).

import fs from 'node:fs/promises';
import path from 'node:path';
import { POINTER_SUFFIX } from '../core/pointer.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { listObjects } from '../sync/listing.js';

export async function remoteNames(remote: Remote, startsWith = ''): Promise<string[]> {
  const out: string[] = [];
  // Listed by the folder of the prefix; the caller matches the rest of it (numbered names).
  for await (const o of listObjects(remote, 'ref', { folder: startsWith.slice(0, startsWith.lastIndexOf('/') + 1) })) out.push(o.name);
  return out;
}

export async function localNames(repo: Repository): Promise<string[]> {
  return (await repo.listRefs()).map((r) => r.name);
}

/** Checkpoint files in a directory: regular files, a pointer file standing for its data file. */
export async function directoryFiles(dir: string): Promise<string[]> {
  const out = new Set<string>();
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() && !e.isDirectory()) continue;
    out.add(e.name.endsWith(POINTER_SUFFIX) ? e.name.slice(0, -POINTER_SUFFIX.length) : e.name);
  }
  return [...out].filter((n) => !n.includes('.tmp-')).map((n) => path.join(dir, n));
}
