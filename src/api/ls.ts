// ls: names with their sizes and how many bytes each shares with other versions (deduplication).

import { manifestChunks } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import type { RefDocument } from '../core/refs.js';
import type { Remote } from '../remote/types.js';
import { isBadObject, loadManifest } from '../sync/manifests.js';
import { listRemoteRefs } from '../sync/refs.js';
import { incompleteVersions, type IncompleteVersion } from '../sync/parts.js';
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
  /** On a remote, a version pushed in parts that still waits for some (manifest "" until it is whole; §8b). */
  incomplete?: IncompleteVersion;
}

export interface LsOptions {
  repo: Repository;
  /** List the names on a remote instead of the local ones. */
  remote?: string | Remote;
  prefix?: string;
  /**
   * Told about each remote object that could not be listed (a bad ref, a name whose manifest is missing
   * or corrupt, a stray key under refs/); the rest are listed anyway.
   */
  onWarning?: (message: string) => void;
}

export async function ls(opts: LsOptions): Promise<LsEntry[]> {
  const { repo } = opts;
  let docs: RefDocument[];
  let remote: Remote | undefined;
  let owned = false;
  if (opts.remote !== undefined) ({ remote, owned } = await openRemoteFor(repo, opts.remote));
  try {
    const warn = opts.onWarning ?? (() => {});
    if (remote) {
      const listed = await listRemoteRefs(remote, opts.prefix);
      for (const b of listed.bad) warn(b.name ? `skipped name ${b.name}: ${b.why}` : `skipped ${b.why}`);
      docs = listed.refs.map((r) => r.doc);
    } else docs = await repo.listRefs();
    if (opts.prefix) docs = docs.filter((d) => d.name.startsWith(opts.prefix!));
    const chunkSets = new Map<string, Map<string, number>>();
    const badTargets = new Map<string, string>();
    for (const d of docs) {
      if (chunkSets.has(d.target) || badTargets.has(d.target)) continue;
      try {
        chunkSets.set(d.target, manifestChunks(await loadManifest(repo, d.target, remote)));
      } catch (e) {
        if (!remote || !isBadObject(e)) throw e;
        badTargets.set(d.target, (e as Error).message);
      }
    }
    docs = docs.filter((d) => {
      const why = badTargets.get(d.target);
      if (why !== undefined) warn(`skipped name ${d.name}: its manifest ${d.target} cannot be read: ${why}`);
      return why === undefined;
    });
    const users = new Map<string, number>();
    for (const set of chunkSets.values()) for (const h of set.keys()) users.set(h, (users.get(h) ?? 0) + 1);
    const rows: LsEntry[] = docs.map((d) => {
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
    return remote ? [...rows, ...(await incompleteVersions(remote, opts.prefix))] : rows;
  } finally {
    if (owned) await remote!.close();
  }
}
