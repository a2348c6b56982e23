// The listing loops of the drivers. walkTree: list() for stores that are a tree of directories (local,
// SFTP, WebDAV): walk from the deepest directory the prefix names completely, descend only into
// directories that can hold matching keys, and keep a few directory reads in flight. paged: list() for
// stores that answer a flat listing a page at a time (S3, B2).

import type { ObjectInfo } from '../../src/remote/index.js';

export interface TreeEntry {
  name: string;
  dir: boolean;
  size?: number;
  mtimeMs?: number;
  /** For stores whose directory listing has no sizes (local): asked only for files that match; null skips the file. */
  info?: () => Promise<{ size: number; mtimeMs?: number } | null>;
}

/**
 * Every object whose key starts with `prefix`, in no particular order. `readDir(dirKey)` lists one
 * directory ('' is the root): [] when it does not exist, and never the driver's own files (temps, locks).
 */
export async function* walkTree(prefix: string, readDir: (dirKey: string) => Promise<TreeEntry[]>, parallel: number): AsyncIterable<ObjectInfo> {
  const slash = prefix.lastIndexOf('/');
  const queue: string[] = [slash >= 0 ? prefix.slice(0, slash) : ''];
  const inflight = new Map<number, Promise<{ id: number; dirKey: string; entries: TreeEntry[] }>>();
  let ids = 0;
  try {
    while (queue.length > 0 || inflight.size > 0) {
      while (queue.length > 0 && inflight.size < parallel) {
        const dirKey = queue.shift()!;
        const id = ids++;
        inflight.set(id, readDir(dirKey).then((entries) => ({ id, dirKey, entries })));
      }
      const { id, dirKey, entries } = await Promise.race(inflight.values());
      inflight.delete(id);
      for (const ent of entries) {
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        if (ent.dir) {
          if (key.startsWith(prefix) || prefix.startsWith(key + '/')) queue.push(key);
        } else if (key.startsWith(prefix)) {
          const info = ent.info ? await ent.info() : { size: ent.size ?? 0, mtimeMs: ent.mtimeMs };
          if (info) yield info.mtimeMs === undefined ? { key, size: info.size } : { key, size: info.size, mtimeMs: info.mtimeMs };
        }
      }
    }
  } finally {
    // A consumer that stops early leaves reads in flight: let them fail quietly.
    for (const p of inflight.values()) p.catch(() => {});
  }
}

/** Every item of a paged listing: `page(token)` answers one page and the next page's token (undefined after the last). */
export async function* paged<T, Token>(page: (token: Token | undefined) => Promise<{ items: Iterable<T>; next?: Token }>): AsyncIterable<T> {
  let token: Token | undefined;
  do {
    const p = await page(token);
    yield* p.items;
    token = p.next;
  } while (token !== undefined);
}
