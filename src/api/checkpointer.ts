// Checkpointer: periodic checkpoints from a training loop. Saves every `period` steps (or when forced),
// writes to a temp file and renames it into place (so `watch` and readers never see half a checkpoint),
// keeps the last N, finds the latest for auto-resume, and loads by name through resolve.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { numbered, retentionPlan } from '../core/numbered.js';
import { TMP_MARK, tempPathFor } from '../core/store.js';
import type { Remote } from '../remote/types.js';
import { resolveCheckpoint } from './resolve.js';

export interface CheckpointerOptions {
  dir: string;
  /** File name before the number (default "ckpt-"). */
  prefix?: string;
  /** File extension with its dot (default ".pt"). */
  ext?: string;
  /** Save when step % period === 0 (default 1: every call). */
  period?: number;
  /** Keep only the N newest checkpoints (default: keep all). */
  keepLast?: number;
  /** Delete this prefix's checkpoints when created (a fresh run). */
  clearAtStart?: boolean;
  /** Zero-padding of the number so names sort (default 6). */
  digits?: number;
  /** For load() of names not in dir. */
  remote?: string | Remote;
  cacheDir?: string;
}

export interface SavedCheckpoint {
  path: string;
  step: number;
}

export class Checkpointer {
  readonly dir: string;
  readonly prefix: string;
  readonly ext: string;
  readonly period: number;

  private constructor(private readonly opts: CheckpointerOptions) {
    this.dir = path.resolve(opts.dir);
    this.prefix = opts.prefix ?? 'ckpt-';
    this.ext = opts.ext ?? '.pt';
    this.period = opts.period ?? 1;
    if (!Number.isSafeInteger(this.period) || this.period < 1) throw new UsageError('period must be a whole number >= 1');
  }

  static async create(opts: CheckpointerOptions): Promise<Checkpointer> {
    const c = new Checkpointer(opts);
    await fs.mkdir(c.dir, { recursive: true });
    if (opts.clearAtStart) for (const x of await c.list()) await fs.rm(x.path, { force: true });
    return c;
  }

  pathFor(step: number): string {
    return path.join(this.dir, `${this.prefix}${String(step).padStart(this.opts.digits ?? 6, '0')}${this.ext}`);
  }

  isDue(step: number, force = false): boolean {
    return force || step % this.period === 0;
  }

  /**
   * Saves the checkpoint of `step` if it is due: `write` gets a temp path to write to; it is renamed into
   * place when write returns. Returns null when not due.
   */
  async save(step: number, write: (tmpPath: string) => Promise<void> | void, opts: { force?: boolean } = {}): Promise<SavedCheckpoint | null> {
    if (!this.isDue(step, opts.force)) return null;
    const dest = this.pathFor(step);
    const tmp = tempPathFor(dest);
    try {
      await write(tmp);
      await fs.rename(tmp, dest);
    } catch (e) {
      await fs.rm(tmp, { force: true, recursive: true });
      throw e;
    }
    if (this.opts.keepLast !== undefined) {
      for (const x of retentionPlan(await this.numbered(), this.opts.keepLast).remove) await fs.rm(x.item, { force: true, recursive: true });
    }
    return { path: dest, step };
  }

  /** Checkpoints of this prefix in dir, oldest first. */
  async list(): Promise<SavedCheckpoint[]> {
    return (await this.numbered()).map((x) => ({ path: x.item, step: x.number }));
  }

  async latest(): Promise<SavedCheckpoint | null> {
    return (await this.list()).at(-1) ?? null;
  }

  /** A path to read: a step number or file name in dir, else any ID resolve accepts (name, pointer). */
  async load(name: string | number): Promise<string> {
    const local = typeof name === 'number' ? this.pathFor(name) : path.resolve(this.dir, name);
    if (await fs.stat(local).catch(() => null)) return local;
    if (typeof name === 'number') throw new UsageError(`no checkpoint for step ${name} in ${this.dir}`);
    return resolveCheckpoint(name, { remote: this.opts.remote, cacheDir: this.opts.cacheDir });
  }

  private async numbered() {
    const files = (await fs.readdir(this.dir)).filter((n) => !n.includes(TMP_MARK) && n.endsWith(this.ext));
    return numbered(this.prefix, files, (n) => n.slice(0, n.length - this.ext.length)).map((x) => ({ ...x, item: path.join(this.dir, x.item) }));
  }
}
