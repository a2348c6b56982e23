// Maps typed handles to remote keys: the one place that knows the remote layout
// (manifest-spec.md, "Remote layout"). Drivers store bytes under the key they are given.

import { assertHash, assertRefName, isRefName } from '../names.js';

export type HandleKind = 'chunk' | 'delta' | 'pack' | 'manifest' | 'ref' | 'lock';

export interface Handle {
  kind: HandleKind;
  /**
   * A lowercase hex BLAKE3 hash for chunks, packs and manifests; for a delta, `<chunk hash>-<base hash>`
   * (deltaName); a ref name for refs and locks.
   */
  name: string;
}

export const LAYOUT_VERSION = 3;
/** The document at the remote's root that names the layout version. */
export const REMOTE_CONFIG_KEY = 'ckptsync-remote.json';

export function keyOf(handle: Handle): string {
  switch (handle.kind) {
    case 'chunk':
      assertHash(handle.name);
      return `chunks/${handle.name.slice(0, 2)}/${handle.name}`;
    case 'delta': {
      const { chunk, base } = parseDeltaName(handle.name);
      return `deltas/${chunk.slice(0, 2)}/${chunk}-${base}`;
    }
    case 'pack':
      assertHash(handle.name);
      return `packs/${handle.name.slice(0, 2)}/${handle.name}`;
    case 'manifest':
      assertHash(handle.name);
      return `manifests/${handle.name}`;
    case 'ref':
      assertRefName(handle.name);
      return `refs/${handle.name}.ref`;
    case 'lock':
      assertRefName(handle.name);
      return `locks/${handle.name}.lock`;
  }
}

/** The prefix under which all objects of a kind live, for listing. */
export function prefixOf(kind: HandleKind): string {
  return { chunk: 'chunks/', delta: 'deltas/', pack: 'packs/', manifest: 'manifests/', ref: 'refs/', lock: 'locks/' }[kind];
}

/** The prefix under which every delta of one chunk lives (one per base it was stored against). */
export function deltaPrefixOf(chunk: string): string {
  assertHash(chunk);
  return `deltas/${chunk.slice(0, 2)}/${chunk}-`;
}

export function deltaName(chunk: string, base: string): string {
  return `${chunk}-${base}`;
}

export function parseDeltaName(name: string): { chunk: string; base: string } {
  const [chunk = '', base = ''] = name.split('-');
  assertHash(chunk);
  assertHash(base);
  return { chunk, base };
}

/** Parses a key back to its handle, or null for keys outside the layout (temp files, foreign objects). */
export function handleOf(key: string): Handle | null {
  let m = /^chunks\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  if (m && key.slice(7, 9) === m[1]!.slice(0, 2)) return { kind: 'chunk', name: m[1]! };
  m = /^deltas\/[0-9a-f]{2}\/([0-9a-f]{64})-([0-9a-f]{64})$/.exec(key);
  if (m && key.slice(7, 9) === m[1]!.slice(0, 2)) return { kind: 'delta', name: deltaName(m[1]!, m[2]!) };
  m = /^packs\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  if (m && key.slice(6, 8) === m[1]!.slice(0, 2)) return { kind: 'pack', name: m[1]! };
  m = /^manifests\/([0-9a-f]{64})$/.exec(key);
  if (m) return { kind: 'manifest', name: m[1]! };
  m = /^refs\/(.+)\.ref$/.exec(key);
  if (m && isRefName(m[1]!)) return { kind: 'ref', name: m[1]! };
  m = /^locks\/(.+)\.lock$/.exec(key);
  if (m && isRefName(m[1]!)) return { kind: 'lock', name: m[1]! };
  return null;
}
