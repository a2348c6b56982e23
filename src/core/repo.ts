// The local repository: .ckptsync/ at the root of a working tree (manifest-spec.md, "Local repository").
// Holds the object store, names (refs) with their history, the config and the cached state of remotes.
// Mutable state (refs, config, remote state) changes only under the repository lock.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ConfigError, LockHeldError, NotFoundError, UsageError } from '../errors.js';
import { assertRefName } from '../names.js';
import { decodeRef, encodeRef, newEntry, withMove, type RefDocument } from './refs.js';
import { ChunkTable } from './chunk-table.js';
import { piecesOf } from './file-io.js';
import { PlacedChunks } from './placed.js';
import { joinedInPieces, ObjectStore, writeAtomic } from './store.js';

export const REPO_DIR = '.ckptsync';
export const REPO_FORMAT = 1;

/**
 * .ckptsync/.gitignore (manifest-spec.md §7): nothing of the store goes into git, not even by `git add -A`;
 * only this file itself may be committed. Checkpoint data is shared through remotes, never through git.
 */
export const STORE_GITIGNORE = '# Written by ckptsync init: the object store and its state stay out of git.\n*\n!.gitignore\n';

export interface RemoteConfig {
  url: string;
  settings: Record<string, string>;
}

export interface RepoConfig {
  format: number;
  defaultRemote?: string;
  remotes: Record<string, RemoteConfig>;
}

export class Repository {
  readonly dir: string;
  readonly store: ObjectStore;
  /** Chunks kept in the files pull and resolve wrote (§7b); the store reads through it. */
  readonly placed: PlacedChunks;

  private constructor(readonly root: string) {
    this.dir = path.join(root, REPO_DIR);
    this.store = new ObjectStore(this.dir);
    this.placed = new PlacedChunks(root, this.dir, this.store);
    this.store.placed = this.placed;
  }

  /** Creates .ckptsync/ in root (idempotent). */
  static async init(root: string): Promise<{ repo: Repository; created: boolean }> {
    const abs = path.resolve(root);
    // Like `git init DIR`: DIR itself may be created, a chain of missing folders (a typo) is refused.
    const kind = async (p: string) => fs.stat(p).then((s) => (s.isDirectory() ? 'dir' : 'file'), () => null);
    const here = await kind(abs);
    if (here === 'file') throw new UsageError(`cannot init ${abs}: it is a file, not a directory`);
    if (here === null && (await kind(path.dirname(abs))) !== 'dir') throw new NotFoundError(`cannot init ${abs}: its parent ${path.dirname(abs)} does not exist`, { path: abs });
    const repo = new Repository(abs);
    let created = false;
    try {
      await fs.access(path.join(repo.dir, 'config.json'));
    } catch {
      for (const d of ['objects', 'manifests', 'refs', 'remotes', 'tmp']) await fs.mkdir(path.join(repo.dir, d), { recursive: true });
      await writeAtomic(path.join(repo.dir, 'config.json'), JSON.stringify({ format: REPO_FORMAT, remotes: {} }, null, 2) + '\n');
      created = true;
    }
    // Also for a repository made before this file existed: init is how a user repairs it.
    await fs.access(path.join(repo.dir, '.gitignore')).catch(() => writeAtomic(path.join(repo.dir, '.gitignore'), STORE_GITIGNORE));
    return { repo, created };
  }

  /** Finds the repository containing `from` by searching upwards, like git. */
  static async find(from: string = process.cwd()): Promise<Repository> {
    let dir = path.resolve(from);
    for (;;) {
      try {
        await fs.access(path.join(dir, REPO_DIR, 'config.json'));
        return new Repository(dir);
      } catch {}
      const parent = path.dirname(dir);
      if (parent === dir) throw new ConfigError(`not in a ckptsync repository (no ${REPO_DIR}/ here or above ${path.resolve(from)}); run 'ckptsync init'`);
      dir = parent;
    }
  }

  async config(): Promise<RepoConfig> {
    const file = path.join(this.dir, 'config.json');
    let c: RepoConfig;
    try {
      c = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
    }
    // Hand-edited or damaged: refuse with the file's name rather than fail on a property of null later.
    const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isMap(c)) throw new ConfigError(`${file} is not a ckptsync config (expected a JSON object)`);
    if (c.format !== REPO_FORMAT) throw new ConfigError(`${file} has format ${JSON.stringify(c.format) ?? 'none'}; this ckptsync reads ${REPO_FORMAT}`);
    c.remotes ??= {};
    if (!isMap(c.remotes)) throw new ConfigError(`${file}: "remotes" must be an object`);
    for (const [name, r] of Object.entries(c.remotes)) {
      if (!isMap(r) || typeof r.url !== 'string' || (r.settings !== undefined && !isMap(r.settings))) throw new ConfigError(`${file}: remote ${name} must have a "url" string and optional "settings" object`);
    }
    if (c.defaultRemote !== undefined && c.defaultRemote !== null && typeof c.defaultRemote !== 'string') throw new ConfigError(`${file}: "defaultRemote" must be a remote's name`);
    return c;
  }

  async saveConfig(c: RepoConfig): Promise<void> {
    await writeAtomic(path.join(this.dir, 'config.json'), JSON.stringify(c, null, 2) + '\n');
  }

  /** Runs fn holding the repository lock; waits up to `waitMs` for another process to release it. */
  async withLock<T>(fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.dir, {
        lockfilePath: path.join(this.dir, 'lock'),
        stale: 20_000,
        update: 5_000,
        retries: { retries: Math.ceil(waitMs / 200), minTimeout: 50, maxTimeout: 200, factor: 1.5 },
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'ELOCKED') throw new LockHeldError(`repository ${this.root} is locked by another ckptsync process`);
      throw e;
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => {});
    }
  }

  refPath(name: string): string {
    assertRefName(name);
    return path.join(this.dir, 'refs', ...name.split('/')) + '.ref';
  }

  async readRef(name: string): Promise<RefDocument | null> {
    try {
      return decodeRef(await fs.readFile(this.refPath(name)), name, name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async resolveName(name: string): Promise<string> {
    const ref = await this.readRef(name);
    if (!ref) throw new NotFoundError(`no checkpoint named ${name} in this repository`, { name });
    return ref.target;
  }

  /** Points a local name at a manifest, keeping its history. Call under withLock. */
  async setRef(name: string, target: string): Promise<RefDocument> {
    const prev = await this.readRef(name);
    if (prev?.target === target) return prev;
    const doc = withMove(prev, name, newEntry(target));
    await writeAtomic(this.refPath(name), encodeRef(doc));
    return doc;
  }

  async deleteRef(name: string): Promise<boolean> {
    try {
      await fs.rm(this.refPath(name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async listRefs(): Promise<RefDocument[]> {
    const out: RefDocument[] = [];
    const walk = async (dir: string, prefix: string) => {
      let ents;
      try {
        ents = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of ents) {
        if (e.isDirectory()) await walk(path.join(dir, e.name), `${prefix}${e.name}/`);
        else if (e.isFile() && e.name.endsWith('.ref')) {
          const name = prefix + e.name.slice(0, -4);
          const doc = await this.readRef(name);
          if (doc) out.push(doc);
        }
      }
    };
    await walk(path.join(this.dir, 'refs'), '');
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /**
   * Chunks `clean` dropped on purpose because a remote holds them (manifest-spec.md §7): their absence
   * is expected, and `verify` does not report it.
   */
  async cleanedChunks(): Promise<Set<string>> {
    const out = new Set<string>();
    await this.eachCleaned((h) => out.add(h));
    return out;
  }

  /** The same as a ChunkTable: ~50 bytes a hash rather than a Set's ~130. */
  async cleanedTable(): Promise<ChunkTable> {
    const out = new ChunkTable();
    await this.eachCleaned((h) => out.add(h));
    return out;
  }

  /** Each hash `cleaned` lists, read a megabyte at a time: after a pull of 400,000 small files it has 400,000 lines. */
  private async eachCleaned(fn: (hash: string) => void): Promise<void> {
    const file = path.join(this.dir, 'cleaned');
    if (!(await fs.access(file, fs.constants.R_OK).then(() => true, () => false))) return; // none recorded yet
    let rest = '';
    for await (const piece of piecesOf(file)) {
      const lines = (rest + piece.toString('latin1')).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (/^[0-9a-f]{64}$/.test(l)) fn(l);
    }
    if (/^[0-9a-f]{64}$/.test(rest)) fn(rest);
  }

  /**
   * Appends the hashes not recorded yet: every default pull records its chunks, and most recur from
   * version to version. `hashes` MUST be distinct (each is looked up among the lines already there only).
   */
  async recordCleaned(hashes: Iterable<string>): Promise<void> {
    // The hashes known, as bytes (ChunkTable): a Set of 400,000 strings was ~45 MB.
    const known = await this.cleanedTable();
    // Appended 1,024 lines at a time: the lines of a pull of 400,000 small files as one string, and its
    // bytes, were ~60 MB at once.
    function* fresh() {
      for (const h of hashes) if (!known.has(h)) yield h + '\n';
    }
    let fh: fs.FileHandle | undefined;
    try {
      for (const piece of joinedInPieces(fresh(), '')) {
        fh ??= await fs.open(path.join(this.dir, 'cleaned'), 'a');
        await fh.write(piece);
      }
    } finally {
      await fh?.close();
    }
  }

  /** Where the cached state of a remote lives (what it is known to hold). */
  remoteStateDir(remoteUrl: string): string {
    const id = crypto.createHash('sha256').update(remoteUrl).digest('hex').slice(0, 16);
    return path.join(this.dir, 'remotes', id);
  }

  /** Path relative to the repository root, '/'-separated. */
  relative(p: string): string {
    return path.relative(this.root, path.resolve(p)).split(path.sep).join('/');
  }
}
