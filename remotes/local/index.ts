// Remote driver: a directory on a local or network-mounted filesystem (README.md).
// URLs: file:///abs/path, or a plain path. Objects are files at <root>/<key>; writes go to a temp
// file in the same directory and are renamed into place. swapDocument holds a proper-lockfile lock
// (an atomic mkdir, also on NFS) on the document while it compares and replaces it. Opening creates
// nothing (a mistyped path must look missing, not empty); the first write creates the directories.

import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import lockfile from 'proper-lockfile';
import {
  DOCUMENT_MAX_BYTES,
  IntegrityError,
  NotFoundError,
  UsageError,
  bufferSource,
  type ByteRange,
  type ByteSource,
  type ObjectInfo,
  type Remote,
  type RemoteFactory,
  type RemoteSettings,
} from '../../src/remote/index.js';
import { readFully, writevAll } from '../kit/files.js';
import { lockedSwap } from '../kit/swap.js';
import { walkTree, type TreeEntry } from '../kit/walk.js';
import { options, parseConfig, type LocalConfig } from './config.js';
import { localError, lockError } from './errors.js';
import { LOCK_SUFFIX, TMP_MARK, versionOf } from './wire.js';

export type { LocalConfig } from './config.js';

/** Directories read at once by list(). */
const LIST_PARALLEL = 8;

export class LocalRemote implements Remote {
  readonly features = { defaultConcurrency: 8, casMethod: 'lockfile', rangedGet: true };
  readonly displayUrl: string;
  constructor(private readonly root: string) {
    this.displayUrl = `file://${root}`;
  }

  /** An errno failure as a typed error naming the key and this remote; anything else unchanged. */
  private typed(e: unknown, op: string, key: string): unknown {
    return localError(e, op, key, this.displayUrl);
  }

  async exists(): Promise<boolean> {
    try {
      if ((await fsp.stat(this.root)).isDirectory()) return true;
    } catch (e) {
      if (isMissing(e)) return false;
      throw this.typed(e, 'stat', '');
    }
    throw new UsageError(`${this.displayUrl} is a file, not a directory`);
  }

  private pathOf(key: string): string {
    const p = path.join(this.root, ...key.split('/'));
    if (!p.startsWith(this.root + path.sep)) throw new UsageError(`key escapes the remote: ${key}`);
    return p;
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await fsp.stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size, mtimeMs: st.mtimeMs } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw this.typed(e, 'stat', key);
    }
  }

  async put(key: string, source: ByteSource): Promise<void> {
    try {
      await this.putFile(key, source);
    } catch (e) {
      throw this.typed(e, 'writing', key);
    }
  }

  private async putFile(key: string, source: ByteSource): Promise<void> {
    const dest = this.pathOf(key);
    await mkdirs(path.dirname(dest));
    const tmp = `${dest}${TMP_MARK}${crypto.randomBytes(6).toString('hex')}`;
    try {
      if (source.buffer) {
        // One system call for the whole object, which must arrive whole (fs.writeFile splits at 512 KiB).
        const fh = await fsp.open(tmp, 'wx');
        try {
          await writevAll(fh, [source.buffer], 0);
        } finally {
          await fh.close();
        }
      } else {
        // A whole local file (a manifest) is copied by the kernel: a stream's new buffer per megabyte left
        // ~25 MB of them to the collector at the end of a push of 400,000 small files.
        if (source.file?.offset === 0 && (await fsp.stat(source.file.path)).size === source.size) await fsp.copyFile(source.file.path, tmp, fs.constants.COPYFILE_EXCL);
        else await pipeline(source.open(), fs.createWriteStream(tmp));
        const written = (await fsp.stat(tmp)).size;
        if (written !== source.size) throw new Error(`short write of ${key}: ${written} of ${source.size} bytes`);
      }
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  async get(key: string, range?: ByteRange) {
    const p = this.pathOf(key);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(p, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`not found on remote: ${key}`, { key });
      throw this.typed(e, 'reading', key);
    }
    if (range && range.length === 0) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream({
      start: range?.offset ?? 0,
      end: range ? range.offset + range.length - 1 : undefined,
      highWaterMark: 1 << 20,
    });
  }

  async readInto(key: string, into: Buffer): Promise<number> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.pathOf(key), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`not found on remote: ${key}`, { key });
      throw this.typed(e, 'reading', key);
    }
    try {
      return await readFully(fh, into, 0);
    } finally {
      await fh.close();
    }
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return walkTree(prefix, (dirKey) => this.readDir(dirKey), LIST_PARALLEL);
  }

  /** One directory for walkTree: [] when it is missing; temp files of puts in progress left out. */
  private async readDir(dirKey: string): Promise<TreeEntry[]> {
    const dir = dirKey ? this.pathOf(dirKey) : this.root;
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return [];
      throw this.typed(e, 'listing', dirKey);
    }
    const out: TreeEntry[] = [];
    for (const ent of entries) {
      if (ent.isDirectory()) out.push({ name: ent.name, dir: true });
      else if (ent.isFile() && !ent.name.includes(TMP_MARK)) {
        const file = path.join(dir, ent.name);
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        // A file removed since readdir (a concurrent delete) is skipped; any other failure is reported.
        const info = () => fsp.stat(file).then((st) => ({ size: st.size, mtimeMs: st.mtimeMs }), (e) => (isMissing(e) ? null : Promise.reject(this.typed(e, 'listing', key))));
        out.push({ name: ent.name, dir: false, info });
      }
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.pathOf(key), { force: true }).catch((e) => {
      throw this.typed(e, 'deleting', key);
    });
  }

  async readDocument(key: string) {
    try {
      const fh = await fsp.open(this.pathOf(key), 'r');
      let data: Buffer;
      try {
        const { size } = await fh.stat();
        if (size > DOCUMENT_MAX_BYTES) throw new IntegrityError(`${key} on ${this.displayUrl} is ${size} bytes, larger than a document may be (${DOCUMENT_MAX_BYTES})`, { key });
        data = await fh.readFile();
      } finally {
        await fh.close();
      }
      return { data, version: versionOf(data) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw this.typed(e, 'reading', key);
    }
  }

  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    const dest = this.pathOf(key);
    await mkdirs(path.dirname(dest)).catch((e) => {
      throw this.typed(e, 'writing', key);
    });
    return lockedSwap(expected, {
      lock: () => this.lockDocument(dest).catch((e) => Promise.reject(this.typed(e, 'locking', key))),
      version: async () => (await this.readDocument(key))?.version ?? null,
      write: async () => {
        await this.put(key, bufferSource(data));
        return versionOf(data);
      },
    });
  }

  /**
   * The lock is held for one small read and write. A live holder refreshes it every 5 s; one killed
   * mid-swap (a push hit by SIGKILL) leaves it behind, and it counts as stale after 10 s, well inside
   * the ~45 s this waits, so the next writer takes it over instead of failing.
   */
  private async lockDocument(dest: string): Promise<() => Promise<void>> {
    try {
      return await lockfile.lock(dest, {
        realpath: false,
        lockfilePath: `${dest}${LOCK_SUFFIX}`,
        stale: DOCUMENT_LOCK_STALE_MS,
        update: DOCUMENT_LOCK_STALE_MS / 2,
        retries: { retries: 250, minTimeout: 5, maxTimeout: 200, factor: 1.3 },
      });
    } catch (e) {
      throw lockError(e, dest);
    }
  }

  async close(): Promise<void> {}
}

/** A document lock not refreshed for this long belongs to a dead process. */
export const DOCUMENT_LOCK_STALE_MS = 10_000;

/**
 * mkdir -p, with the real reason when it fails: Node's recursive mkdir reports ENOENT when an ancestor
 * cannot be written (a read-only file system says EROFS only to a plain mkdir).
 */
async function mkdirs(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const parent = path.dirname(dir);
    if (parent !== dir && !(await fsp.stat(parent).then(() => true, () => false))) await mkdirs(parent);
    await fsp.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export const localRemote = {
  schemes: ['file'],
  options,
  parse: (url: string, settings: RemoteSettings = {}) => parseConfig(url, settings),
  async create(config: LocalConfig): Promise<Remote> {
    // Nothing is created here; a root that does not exist yet is kept as given (exists() says so).
    return new LocalRemote(await fsp.realpath(config.root).catch(() => config.root));
  },
  /** For `remote add`: the directory exists, or its parent does (the first push creates it). */
  async check(config: LocalConfig): Promise<void> {
    const remote = new LocalRemote(config.root);
    if (await remote.exists()) return;
    const parent = path.dirname(config.root);
    const st = await fsp.stat(parent).catch(() => null);
    if (!st?.isDirectory()) throw new NotFoundError(`neither ${config.root} nor its parent ${parent} exists: check the path (create the parent first)`, { path: config.root });
  },
  redact: (url: string) => url,
} satisfies RemoteFactory<LocalConfig>;

export default localRemote;
