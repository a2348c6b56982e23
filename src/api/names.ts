// Where names come from for latest and prune: a remote's refs, a repository's refs, or the files in a
// directory (pointer files count under the name of the file they stand for).

import fs from 'node:fs/promises';
import path from 'node:path';
import { POINTER_SUFFIX } from '../core/pointer.js';
import type { Repository } from '../core/repo.js';
import { handleOf, prefixOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';

export async function remoteNames(remote: Remote, startsWith = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const o of remote.list(prefixOf('ref') + startsWith.slice(0, startsWith.lastIndexOf('/') + 1))) {
    const h = handleOf(o.key);
    if (h?.kind === 'ref') out.push(h.name);
  }
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
