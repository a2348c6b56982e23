// Listing a remote by kind of object (manifest-spec.md, "Remote layout"): the one loop that turns listed
// keys back into typed handles. A key outside the layout (a driver's temp file, a foreign object) is no
// object of any kind; the callers that must account for such keys (refs, §6.2) are told through onStray.

import { deltaPrefixOf, handleOf, parseDeltaName, prefixOf, type HandleKind } from '../remote/layout.js';
import type { ObjectInfo, Remote } from '../remote/types.js';

export interface ListedObject extends ObjectInfo {
  /** The handle's name: a hash for chunks and manifests, a ref or lock name, `<chunk>-<base>` for a delta. */
  name: string;
}

/** A chunk stored as a delta (spec §8a), with the two hashes of its name. */
export interface ListedDelta extends ListedObject {
  chunk: string;
  base: string;
}

export interface ListOptions {
  /** Refs and locks only: list just the names in this folder and below (e.g. `run1/`; '' for all). */
  folder?: string;
  /** Told of each key under the kind's prefix that is not an object of that kind. */
  onStray?: (o: ObjectInfo) => void;
}

/** Every object of one kind on the remote, in the order the driver lists them (following pagination). */
export function listObjects(remote: Remote, kind: Exclude<HandleKind, 'delta'>, opts: ListOptions = {}): AsyncGenerator<ListedObject> {
  const folder = kind === 'ref' || kind === 'lock' ? (opts.folder ?? '') : '';
  return listUnder(remote, kind, prefixOf(kind) + folder, opts.onStray);
}

/** Every chunk delta on the remote, or with `chunk` only that chunk's (one per base it was stored against). */
export async function* listDeltas(remote: Remote, chunk?: string): AsyncGenerator<ListedDelta> {
  for await (const o of listUnder(remote, 'delta', chunk === undefined ? prefixOf('delta') : deltaPrefixOf(chunk))) yield { ...o, ...parseDeltaName(o.name) };
}

async function* listUnder(remote: Remote, kind: HandleKind, prefix: string, onStray?: (o: ObjectInfo) => void): AsyncGenerator<ListedObject> {
  for await (const o of remote.list(prefix)) {
    const h = handleOf(o.key);
    if (h?.kind === kind) yield { ...o, name: h.name };
    else onStray?.(o);
  }
}
