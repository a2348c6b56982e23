// Remote driver: a directory on an SSH server, over SFTP (OpenSSH's sftp-server, or any SFTP v3 server
// with the posix-rename@openssh.com extension).
// URLs: sftp://[user[:password]@]host[:port]/absolute/path, or sftp://host/~/path under the login
// directory; `host` may be a Host alias of ~/.ssh/config. Objects are files at <root>/<key>, written
// under a temporary name and renamed into place. swapDocument holds a lock file made by an exclusive
// create on the server; README.md ("Compare-and-swap") explains why that is safe between machines.

import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path/posix';
import { Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import {
  DOCUMENT_MAX_BYTES,
  IntegrityError,
  TransientError,
  UsageError,
  redactSecrets,
  type ByteRange,
  type ByteSource,
  type ObjectInfo,
  type Remote,
  type RemoteFactory,
  type RemoteSettings,
} from '../../src/remote/index.js';
import { walkTree } from '../kit/walk.js';
import { options, parseConfig, type SftpConfig } from './config.js';
import { SshPool, isStatus } from './connections.js';
import { call, closeHandle, fstat, mkdirp, open, readAllInto, readStream, readdir, renameNoReplace, replace, stat, unlink, writeAll } from './transfer.js';
import { LOCK_SUFFIX, SftpStatus, TMP_MARK } from './wire.js';

export type { SftpConfig } from './config.js';
/** How long swapDocument waits for a lock held by a live writer before giving up (retryable). */
const LOCK_WAIT_MS = 60_000;
/** Directories listed at once when walking a prefix. */
const LIST_PARALLEL = 8;

const rand = () => crypto.randomBytes(6).toString('hex');
const versionOf = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SftpRemote implements Remote {
  readonly features: Remote['features'];
  readonly displayUrl: string;
  private readonly pool: SshPool;

  constructor(private readonly cfg: SftpConfig) {
    this.displayUrl = cfg.displayUrl;
    this.pool = new SshPool(cfg);
    this.features = { defaultConcurrency: cfg.connections * cfg.sessionsPerConnection * 2, casMethod: 'lockfile', rangedGet: true };
  }

  /** Connects and makes sure the root directory exists, so that a bad host, key or path shows at once. */
  /** Connects (so bad credentials and host keys fail at open); creates nothing: the first write does. */
  async init(): Promise<void> {
    await this.exists();
  }

  async exists(): Promise<boolean> {
    const root = this.cfg.root || '.';
    return this.pool.run('stat', root, async (sftp) => {
      try {
        if (!(await stat(sftp, root)).isDirectory()) throw new UsageError(`${this.displayUrl} is a file, not a directory`);
        return true;
      } catch (e) {
        if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return false;
        throw e;
      }
    });
  }

  private pathOf(key: string): string {
    if (!key || key.startsWith('/') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new UsageError(`key escapes the remote: ${key}`);
    }
    return this.cfg.root ? `${this.cfg.root.replace(/\/$/, '')}/${key}` : key;
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const p = this.pathOf(key);
    return this.pool.run('stat', p, async (sftp) => {
      try {
        const st = await stat(sftp, p);
        return st.isFile() ? { key, size: st.size, mtimeMs: st.mtime * 1000 } : null;
      } catch (e) {
        if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return null;
        throw e;
      }
    });
  }

  async put(key: string, source: ByteSource): Promise<void> {
    const dest = this.pathOf(key);
    await this.pool.run('put', dest, async (sftp) => {
      const tmp = `${dest}${TMP_MARK}${rand()}`;
      await this.upload(sftp, tmp, source.buffer ?? source, source.size, false);
      try {
        await replace(sftp, tmp, dest);
      } catch (e) {
        await unlink(sftp, tmp).catch(() => {});
        throw e;
      }
    });
  }

  /**
   * Writes a new file (creating missing directories) and checks its size. Given `clock`, returns the
   * server's clock (mtime, in seconds) at the end of the write, which swapDocument uses to judge lock ages.
   */
  private async upload(sftp: SFTPWrapper, file: string, data: Buffer | ByteSource, size: number, clock: boolean): Promise<number> {
    let h: Buffer;
    try {
      h = await open(sftp, file, 'w');
    } catch (e) {
      if (!isStatus(e, SftpStatus.NO_SUCH_FILE)) throw e;
      await mkdirp(sftp, path.dirname(file));
      h = await open(sftp, file, 'w');
    }
    try {
      const written = await writeAll(sftp, h, Buffer.isBuffer(data) ? data : data.open());
      if (written !== size) throw new Error(`short upload of ${file}: ${written} of ${size} bytes`);
      const mtime = clock ? (await fstat(sftp, h)).mtime : 0;
      await closeHandle(sftp, h);
      return mtime;
    } catch (e) {
      await closeHandle(sftp, h).catch(() => {});
      await unlink(sftp, file).catch(() => {});
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const p = this.pathOf(key);
    const s = await this.pool.acquire();
    let h: Buffer;
    let end: number;
    try {
      h = await Promise.race([open(s.sftp, p, 'r'), s.conn.lost]);
      end = range ? range.offset + range.length : (await Promise.race([fstat(s.sftp, h), s.conn.lost])).size;
    } catch (e) {
      this.pool.release(s);
      throw this.pool.typedError(e, 'get', p);
    }
    const done = () => {
      closeHandle(s.sftp, h).catch(() => {});
      this.pool.release(s);
    };
    const body = readStream(s.sftp, h, range?.offset ?? 0, end, done, (e) => this.pool.typedError(e, 'get', p));
    s.conn.lost.catch((e) => body.destroy(e)); // a piece asked for as the connection died is never answered
    return body;
  }

  /** Reads straight into the caller's buffer: no stream, no per-piece buffers (see transfer.ts readAllInto). */
  async readInto(key: string, into: Buffer): Promise<number> {
    const p = this.pathOf(key);
    return this.pool.run('get', p, async (sftp) => {
      const h = await open(sftp, p, 'r');
      try {
        return into.length === 0 ? 0 : await readAllInto(sftp, h, into);
      } finally {
        await closeHandle(sftp, h).catch(() => {});
      }
    });
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return walkTree(
      prefix,
      (dirKey) => {
        const dir = dirKey ? this.pathOf(dirKey) : this.cfg.root || '.';
        return this.pool.run('list', dir, async (sftp) => {
          let entries: Awaited<ReturnType<typeof readdir>>;
          try {
            entries = await readdir(sftp, dir);
          } catch (e) {
            if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return [];
            throw e;
          }
          return entries
            .filter((e) => e.filename !== '.' && e.filename !== '..' && (e.attrs.isDirectory() || (e.attrs.isFile() && !e.filename.includes(TMP_MARK) && !e.filename.includes(LOCK_SUFFIX))))
            .map((e) => ({ name: e.filename, dir: e.attrs.isDirectory(), size: e.attrs.size, mtimeMs: e.attrs.mtime * 1000 }));
        });
      },
      LIST_PARALLEL,
    );
  }

  async delete(key: string): Promise<void> {
    const p = this.pathOf(key);
    await this.pool.run('delete', p, async (sftp) => {
      try {
        await unlink(sftp, p);
      } catch (e) {
        if (!isStatus(e, SftpStatus.NO_SUCH_FILE)) throw e;
      }
    });
  }

  async readDocument(key: string) {
    const p = this.pathOf(key);
    return this.pool.run('read', p, async (sftp) => {
      const data = await readSmall(sftp, p);
      return data && { data, version: versionOf(data) };
    });
  }

  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    const dest = this.pathOf(key);
    const lock = dest + LOCK_SUFFIX;
    return this.pool.run('swap', dest, async (sftp) => {
      // The new content goes up first, so that the lock is held only for a few round trips.
      const tmp = `${dest}${TMP_MARK}${rand()}`;
      const serverClock = { sec: await this.upload(sftp, tmp, data, data.length, true), at: Date.now() };
      let placed = false;
      try {
        const token = await this.lock(sftp, lock, serverClock);
        try {
          const current = await readSmall(sftp, dest);
          if ((current ? versionOf(current) : null) !== expected) return null;
          // A writer stalled past lockStaleMs may have lost its lock to a breaker: then it must not write.
          if ((await readSmall(sftp, lock))?.toString() !== token) {
            throw new TransientError(`the lock on ${key} was broken as stale while held; try again`, { key });
          }
          await replace(sftp, tmp, dest);
          placed = true;
          return versionOf(data);
        } finally {
          await this.unlock(sftp, lock, token).catch(() => {});
        }
      } finally {
        if (!placed) await unlink(sftp, tmp).catch(() => {});
      }
    });
  }

  /** Takes the lock by creating its file exclusively; breaks a lock older than lockStaleMs. Returns our token. */
  private async lock(sftp: SFTPWrapper, lock: string, clock: { sec: number; at: number }): Promise<string> {
    const token = `${os.hostname()} pid ${process.pid} ${rand()}`;
    const deadline = Date.now() + Math.max(LOCK_WAIT_MS, 2 * this.cfg.lockStaleMs);
    for (let attempt = 0; ; attempt++) {
      try {
        const h = await open(sftp, lock, 'wx');
        try {
          await writeAll(sftp, h, Buffer.from(token));
        } finally {
          await closeHandle(sftp, h);
        }
        return token;
      } catch (e) {
        // OpenSSH answers FAILURE when the file exists; anything else is a real error.
        if (!isStatus(e, SftpStatus.FAILURE) && !isStatus(e, SftpStatus.FILE_ALREADY_EXISTS)) throw e;
      }
      const held = await stat(sftp, lock).catch((e) => {
        if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return null;
        throw e;
      });
      if (!held) continue; // released in between: try again at once
      // Ages are measured on the server's clock, so clock skew between writers does not matter.
      const serverNow = clock.sec + (Date.now() - clock.at) / 1000;
      if ((serverNow - held.mtime) * 1000 > this.cfg.lockStaleMs) {
        await this.breakLock(sftp, lock);
        continue;
      }
      if (Date.now() > deadline) {
        const holder = (await readSmall(sftp, lock).catch(() => null))?.toString() ?? 'unknown';
        throw new TransientError(`${lock} on ${this.displayUrl} is held by another writer (${holder})`, { lock });
      }
      await sleep(Math.min(200, 5 * 1.5 ** attempt) * (0.5 + Math.random() / 2));
    }
  }

  /**
   * Moves an abandoned lock aside. A plain SFTP rename never overwrites, so of several breakers only one
   * moves it; if what it moved turns out to be a fresh lock taken in between, it puts it back.
   */
  private async breakLock(sftp: SFTPWrapper, lock: string): Promise<void> {
    const stale = (await readSmall(sftp, lock))?.toString();
    if (stale === undefined) return;
    const aside = `${lock}.stale-${rand()}`;
    try {
      await renameNoReplace(sftp, lock, aside);
    } catch (e) {
      if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return;
      throw e;
    }
    const moved = (await readSmall(sftp, aside))?.toString();
    if (moved !== stale) {
      // Its owner checks its token before writing, so if this fails the owner backs off safely.
      await renameNoReplace(sftp, aside, lock).catch(() => unlink(sftp, aside).catch(() => {}));
    } else {
      await unlink(sftp, aside).catch(() => {});
    }
  }

  private async unlock(sftp: SFTPWrapper, lock: string, token: string): Promise<void> {
    if ((await readSmall(sftp, lock))?.toString() === token) await unlink(sftp, lock);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** A whole small file, or null when it does not exist; IntegrityError past DOCUMENT_MAX_BYTES, unread. */
async function readSmall(sftp: SFTPWrapper, p: string): Promise<Buffer | null> {
  let h: Buffer;
  try {
    h = await open(sftp, p, 'r');
  } catch (e) {
    if (isStatus(e, SftpStatus.NO_SUCH_FILE)) return null;
    throw e;
  }
  try {
    const parts: Buffer[] = [];
    for (let pos = 0; ; ) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const n = await call<number>((cb) => sftp.read(h, buf, 0, buf.length, pos, cb as never));
      if (!n) break;
      parts.push(buf.subarray(0, n));
      pos += n;
      if (pos > DOCUMENT_MAX_BYTES) throw new IntegrityError(`${p} is larger than a document may be (${DOCUMENT_MAX_BYTES} bytes)`, { path: p });
    }
    return Buffer.concat(parts);
  } finally {
    await closeHandle(sftp, h).catch(() => {});
  }
}

export const sftpRemote = {
  schemes: ['sftp'],
  options,
  parse: (url: string, settings: RemoteSettings = {}) => parseConfig(url, settings),
  async create(config: SftpConfig): Promise<Remote> {
    const remote = new SftpRemote(config);
    try {
      await remote.init();
    } catch (e) {
      await remote.close();
      throw e;
    }
    return remote;
  },
  redact: (url: string) => redactSecrets(url),
} satisfies RemoteFactory<SftpConfig>;

export default sftpRemote;
