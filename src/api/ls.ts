// ls: names with their sizes and how many bytes each shares with other versions (deduplication).

import { manifestChunks } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import type { RefDocument } from '../core/refs.js';
import type { Remote } from '../remote/types.js';
import { prefixOf } from '../remote/layout.js';
import { loadManifest } from '../sync/manifests.js';
import { readRemoteRef } from '../sync/refs.js';
import { openRemoteFor } from './remote.js';

export interface LsEntry {
  name: string;
  manifest: string;
  /** Bytes of the checkpoint. */
  bytes: number;
  /** Bytes of its chunks that other listed names also use. */
  sharedBytes: number;
  /** When the name last moved. */
  updated: string;
  /** How many times the name has moved. */
  versions: number;
}

export interface LsOptions {
  repo: Repository;
  /** List the names on a remote instead of the local ones. */
  remote?: string | Remote;
  prefix?: string;
}

export async function ls(opts: LsOptions): Promise<LsEntry[]> {
  const { repo } = opts;
  let docs: RefDocument[];
  let remote: Remote | undefined;
  let owned = false;
  if (opts.remote !== undefined) ({ remote, owned } = await openRemoteFor(repo, opts.remote));
  try {
    if (remote) {
      const names: string[] = [];
      for await (const o of remote.list(prefixOf('ref'))) if (o.key.endsWith('.ref')) names.push(o.key.slice(prefixOf('ref').length, -4));
      docs = [];
      for (const n of names.sort()) {
        const r = await readRemoteRef(remote, n);
        if (r) docs.push(r.doc);
      }
    } else docs = await repo.listRefs();
    if (opts.prefix) docs = docs.filter((d) => d.name.startsWith(opts.prefix!));
    const chunkSets = new Map<string, Map<string, number>>();
    for (const d of docs) if (!chunkSets.has(d.target)) chunkSets.set(d.target, manifestChunks(await loadManifest(repo, d.target, remote)));
    const users = new Map<string, number>();
    for (const set of chunkSets.values()) for (const h of set.keys()) users.set(h, (users.get(h) ?? 0) + 1);
    return docs.map((d) => {
      const chunks = chunkSets.get(d.target)!;
      let bytes = 0;
      let shared = 0;
      for (const [h, size] of chunks) {
        bytes += size;
        if (users.get(h)! > 1) shared += size;
      }
      const last = d.history.filter((h) => h.kind === 'set').at(-1);
      return { name: d.name, manifest: d.target, bytes, sharedBytes: shared, updated: last?.time ?? '', versions: d.history.filter((h) => h.kind === 'set').length };
    });
  } finally {
    if (owned) await remote!.close();
  }
}
