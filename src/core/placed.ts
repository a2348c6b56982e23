// Chunks in place (manifest-spec.md §7b): a pulled or resolved checkpoint is kept once, in the files
// written, and this index says which chunks those files hold and where. It names, per data path, the
// manifest written there and each file's identity (size, mtime, inode, ctime, device) right after it was
// put in place. A file whose identity changed holds nothing as far as the index goes, and every byte
// read through it is still verified against its hash by the store, so a stale entry costs a download,
// never a wrong byte.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chunkTableOf, readStoredManifest, type Manifest, type ManifestFile } from './manifest.js';
import { joinedInPieces, writeAtomic, type ObjectStore, type PlacedLookup, type PlacedPiece } from './store.js';
import { removeStaleTemps } from './temps.js';

export const PLACED_FILE = 'placed.json';
export const PLACED_FORMAT = 1;

/** One data path's entry: the manifest written there, and per file ('' for a file snapshot) its identity. */
export interface PlacedEntry {
  manifest: string;
  files: Record<string, number[]>;
}

interface PlacedDoc {
  format: number;
  entries: Record<string, PlacedEntry>;
}

/** [size, mtimeMs, ino, ctimeMs, dev] of a regular file not reached through a symlink; null otherwise. */
function identityOf(p: string): number[] | null {
  const st = fsSync.lstatSync(p, { throwIfNoEntry: false });
  return st?.isFile() ? [st.size, st.mtimeMs, st.ino, st.ctimeMs, st.dev] : null;
}

const sameIdentity = (a: number[], b: number[] | null) => !!b && a.length === 5 && a.every((v, i) => v === b[i]);

const keyOf = (m: Manifest, f: ManifestFile) => (m.type === 'file' ? '' : f.path);
const fileAt = (dataPath: string, m: Manifest, key: string) => (m.type === 'file' ? dataPath : path.join(dataPath, ...key.split('/')));

export class PlacedChunks implements PlacedLookup {
  private pieces: Promise<Map<string, PlacedPiece>> | null = null;

  constructor(
    private readonly root: string,
    private readonly dir: string,
    private readonly store: ObjectStore,
  ) {}

  private get file(): string {
    return path.join(this.dir, PLACED_FILE);
  }

  async find(hash: string): Promise<PlacedPiece | undefined> {
    this.pieces ??= this.load();
    return (await this.pieces).get(hash);
  }

  /** A piece that failed its hash: not offered again by this process (the next write of the index drops its file). */
  forget(hash: string): void {
    void this.pieces?.then((m) => m.delete(hash));
  }

  /** The index as stored; entries of an unreadable or unknown-format file are none (it only ever saves downloads). */
  async read(): Promise<Record<string, PlacedEntry>> {
    try {
      const doc = JSON.parse(await fs.readFile(this.file, 'utf8')) as PlacedDoc;
      return doc.format === PLACED_FORMAT && doc.entries && typeof doc.entries === 'object' ? doc.entries : {};
    } catch {
      return {};
    }
  }

  /** Every chunk the index offers, with where: files whose identity still matches, manifests that read. */
  private async load(): Promise<Map<string, PlacedPiece>> {
    const out = new Map<string, PlacedPiece>();
    for (const [rel, e] of Object.entries(await this.read())) {
      const m = await this.manifestOf(e.manifest);
      if (!m) continue;
      const dataPath = path.join(this.root, ...rel.split('/'));
      for (const f of m.files) {
        const id = e.files[keyOf(m, f)];
        const at = fileAt(dataPath, m, keyOf(m, f));
        if (!id || !sameIdentity(id, identityOf(at))) continue;
        let offset = 0;
        f.chunks.forEach((h, i) => {
          const size = f.sizes[i]!;
          if (!out.has(h)) out.set(h, { path: at, offset, size });
          offset += size;
        });
      }
    }
    return out;
  }

  private async manifestOf(hash: string): Promise<Manifest | null> {
    try {
      return await readStoredManifest(this.store, hash);
    } catch {
      return null;
    }
  }

  /**
   * Records that the files of `manifest` (or only those in `only`) were just put in place at dataPath.
   * The caller holds the repository lock. Entries whose files all changed since are dropped on the way.
   */
  async record(dataPath: string, manifestHash: string, manifest: Manifest, only?: ReadonlySet<string>): Promise<void> {
    const rel = this.relative(dataPath);
    let prev: Record<string, number[]> | undefined;
    // Each file's identity is taken as its line is written (docText): as an object of 400,000 keys and
    // then one JSON string, the index of a pull of 400,000 small files took ~80 MB at its end.
    function* files(): Generator<[string, number[]]> {
      for (const f of manifest.files) {
        if (only && !only.has(f.path)) continue;
        const key = keyOf(manifest, f);
        const id = identityOf(fileAt(dataPath, manifest, key));
        if (id && id[0] === f.size) yield [key, id];
      }
      // Another part of the same version written there before (pull --include) still counts.
      if (prev) for (const [key, id] of Object.entries(prev)) if (!only!.has(key)) yield [key, id];
    }
    await this.update((entries) => {
      if (only && entries[rel]?.manifest === manifestHash) prev = entries[rel]!.files;
      delete entries[rel];
    }, { rel, manifest: manifestHash, files });
  }

  /**
   * After a checkout wrote dataPath: recorded when some of its chunks have no object (they were read from
   * pulled files, and the new files hold them too), else any entry there is dropped. Holds no lock itself.
   */
  async noteWritten(dataPath: string, manifestHash: string, manifest: Manifest): Promise<void> {
    const table = chunkTableOf(manifest);
    if ((await this.store.hasMany('chunk', table)).every(Boolean)) await this.drop(dataPath);
    else await this.record(dataPath, manifestHash, manifest);
  }

  /** Drops the entries of files that changed or are gone (clean); how many files the index still names. */
  async prune(): Promise<number> {
    if (!Object.keys(await this.read()).length) return 0;
    let left = 0;
    await this.update((entries) => void (left = Object.values(entries).reduce((n, e) => n + Object.keys(e.files).length, 0)));
    return left;
  }

  /** Forgets what the index says of dataPath (a later write there is not ours). The caller holds the lock. */
  async drop(dataPath: string): Promise<void> {
    if (!(this.relative(dataPath) in (await this.read()))) return;
    await this.update((entries) => void delete entries[this.relative(dataPath)]);
  }

  private relative(p: string): string {
    return path.relative(this.root, path.resolve(p)).split(path.sep).join('/');
  }

  /** Rewrites the index after `change`, with `added` (one data path's entry, as record builds it) written last. */
  private async update(change: (entries: Record<string, PlacedEntry>) => void, added?: AddedEntry): Promise<void> {
    const entries = await this.read();
    for (const [rel, e] of Object.entries(entries)) {
      const dataPath = path.join(this.root, ...rel.split('/'));
      for (const [key, id] of Object.entries(e.files)) {
        const at = key === '' ? dataPath : path.join(dataPath, ...key.split('/'));
        if (!sameIdentity(id, identityOf(at))) delete e.files[key];
      }
      if (!Object.keys(e.files).length) delete entries[rel];
    }
    change(entries);
    if (added) delete entries[added.rel];
    await removeStaleTemps(this.dir); // a writer killed mid-write left its temp beside the index
    if (!Object.keys(entries).length && !added) await fs.rm(this.file, { force: true });
    else await writeAtomic(this.file, docText(entries, added));
    this.pieces = null;
  }
}

/** One data path's entry as record writes it: its files' keys with their identities, taken as they are written. */
interface AddedEntry {
  rel: string;
  manifest: string;
  files: () => Iterable<[string, number[]]>;
}

/**
 * The index as JSON text, in pieces: the same text as JSON.stringify of the document with `added` in its
 * entries (an entry whose files all failed their identity is written empty, and dropped by the next update).
 */
function* docText(entries: Record<string, PlacedEntry>, added?: AddedEntry): Generator<string> {
  const doc = JSON.stringify({ format: PLACED_FORMAT, entries } satisfies PlacedDoc);
  if (!added) return yield doc;
  const rest = doc.slice(0, -2); // without the closing braces of entries and the document
  yield `${rest}${rest.endsWith('{') ? '' : ','}${JSON.stringify(added.rel)}:{"manifest":${JSON.stringify(added.manifest)},"files":{`;
  function* files() {
    for (const [key, id] of added!.files()) yield `${JSON.stringify(key)}:[${id.join(',')}]`;
  }
  yield* joinedInPieces(files(), ',');
  yield '}}}}';
}
