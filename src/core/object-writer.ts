// Writing many objects into the local store fast (ingest, pull): the store's layout and temp-then-rename
// rule (manifest-spec.md §7), with each objects/ab directory created once rather than once per object.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writevAll } from './file-io.js';
import { TempBatches } from './temp-batches.js';
import { canWriteFiles } from './store-chunk.js';
import { tempPathFor, type ObjectKind, type ObjectStore } from './store.js';

/** queue() batches objects up to this size (an add's small files). */
const QUEUED_BYTES = 256 << 10;

export class ObjectWriter {
  /**
   * The objects/ab directories this writer made sure of, each with whether it made it: an object is looked
   * for before it is written only in a directory that was there before (an add of 10,000 small files into
   * a new store looked for each: ~6% of its CPU). Another writer may put the same object in meanwhile;
   * writing it again is harmless (the same bytes, renamed into place).
   */
  private readonly dirs = new Map<string, boolean>();
  private batches: TempBatches | null = null;
  constructor(private readonly store: ObjectStore) {}

  /** Writes an object whose hash the caller computed; false (and no write) when it already exists. */
  async write(kind: ObjectKind, hash: string, data: Uint8Array | Uint8Array[], checkExists = true): Promise<boolean> {
    const dest = this.store.pathOf(kind, hash);
    const fresh = this.madeDir(path.dirname(dest));
    if (checkExists && !fresh && (await this.store.has(kind, hash))) return false;
    const tmp = tempPathFor(dest);
    try {
      // One writev: pieces as they came off the network are never concatenated, and a whole chunk goes
      // in one system call (fs.writeFile would split it into 512 KiB writes).
      const fh = await fs.open(tmp, 'wx');
      try {
        await writevAll(fh, Array.isArray(data) ? data : [data], 0);
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, dest);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    return true;
  }

  /**
   * write() in this tick, without a thread-pool round trip per step (ingest's batches of small files,
   * ingest.ts): the same temp and rename, the same answer. `data` is what the caller hashed.
   */
  writeSync(kind: ObjectKind, hash: string, data: Uint8Array | readonly Uint8Array[]): boolean {
    const dest = this.store.pathOf(kind, hash);
    if (!this.madeDir(path.dirname(dest)) && fsSync.existsSync(dest)) return false;
    const tmp = tempPathFor(dest);
    try {
      const fd = fsSync.openSync(tmp, 'wx');
      try {
        for (const d of Array.isArray(data) ? data : [data]) for (let at = 0; at < d.length; ) at += fsSync.writeSync(fd, d, at, d.length - at);
      } finally {
        fsSync.closeSync(fd);
      }
      fsSync.renameSync(tmp, dest);
    } catch (e) {
      fsSync.rmSync(tmp, { force: true });
      throw e;
    }
    return true;
  }

  /**
   * writeSync's answer, the write itself (the same temp and rename) left to a batch on the thread pool
   * (TempBatches): the object is in place once flush() returns. The caller calls drain() now and then,
   * which waits while two batches are being written. Without the addon, or for more than 256 KiB, it is
   * writeSync. An add's small files: written one by one on the main thread, their objects' system calls
   * were a third of its time.
   */
  queue(kind: ObjectKind, hash: string, data: Uint8Array): boolean {
    if (!canWriteFiles || data.length > QUEUED_BYTES) return this.writeSync(kind, hash, data);
    const dest = this.store.pathOf(kind, hash);
    if (!this.madeDir(path.dirname(dest)) && fsSync.existsSync(dest)) return false;
    (this.batches ??= new TempBatches(true)).add(dest, 0o666, data);
    return true;
  }

  /** Waits while two batches of queue()d objects are being written; throws a failure. */
  async drain(): Promise<void> {
    await this.batches?.drain();
  }

  /** Waits until every queue()d object is in place; throws the first failure. */
  async flush(): Promise<void> {
    await this.batches?.flush();
  }

  /** A temp path beside an object's place (its directory made) for a caller that fills it itself, then place()s it. */
  async tempFor(kind: ObjectKind, hash: string): Promise<string> {
    const dest = this.store.pathOf(kind, hash);
    this.madeDir(path.dirname(dest));
    return tempPathFor(dest);
  }

  /** Renames a filled temp from tempFor() into its object's place (the caller checked the hash). */
  async place(tmp: string, kind: ObjectKind, hash: string): Promise<void> {
    await fs.rename(tmp, this.store.pathOf(kind, hash));
  }

  /** Whether the store holds this chunk. */
  hasChunk(hash: string): Promise<boolean> {
    return this.store.has('chunk', hash);
  }

  /**
   * A temp path for a chunk whose hash is not known yet (it is filled first, hashed, then commit()ed).
   * It sits in objects/, where the sweep of a killed writer's temps looks (removeStaleTemps).
   */
  async incomingPath(): Promise<string> {
    const dir = path.join(this.store.root, 'objects');
    this.madeDir(dir);
    return tempPathFor(path.join(dir, 'incoming'));
  }

  /** Renames a filled temp (incomingPath) to its chunk's place; false, and the temp removed, when the chunk exists. */
  async commit(tmp: string, hash: string): Promise<boolean> {
    try {
      if (await this.store.has('chunk', hash)) {
        await fs.rm(tmp, { force: true });
        return false;
      }
      const dest = this.store.pathOf('chunk', hash);
      this.madeDir(path.dirname(dest));
      await fs.rename(tmp, dest);
      return true;
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * Makes sure of dir, in this tick (once per directory: at most 257 a writer), and says whether this
   * writer made it.
   */
  private madeDir(dir: string): boolean {
    let made = this.dirs.get(dir);
    if (made === undefined) this.dirs.set(dir, (made = fsSync.mkdirSync(dir, { recursive: true }) !== undefined));
    return made;
  }
}
