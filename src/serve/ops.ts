// The operations `serve --stdio` answers (docs/serve-protocol.md, "Operations"), each a few lines over
// the same library function its CLI command calls. Arguments are checked for type here, so a wrong type
// is a UsageError naming the argument, before anything is read or written.

import path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { Repository } from '../core/repo.js';
import type { IngestProgress } from '../core/ingest.js';
import type { TransferProgress } from '../sync/transfer.js';
import { deleteRemoteRef } from '../sync/refs.js';
import { add } from '../api/add.js';
import { diff } from '../api/diff.js';
import { gc } from '../api/gc.js';
import { latest } from '../api/latest.js';
import { ls } from '../api/ls.js';
import { localNames, remoteNames } from '../api/names.js';
import { prune } from '../api/prune.js';
import { pull } from '../api/pull.js';
import { push } from '../api/push.js';
import { commitParts, pushPart } from '../api/parts.js';
import { describe, readRange } from '../api/read.js';
import { openRemoteFor } from '../api/remote.js';
import { resolveCheckpointInfo } from '../api/resolve.js';
import { upload } from '../api/upload.js';
import { verify } from '../api/verify.js';

export interface Progress {
  phase: string;
  bytesMoved: number;
  bytesToMove: number;
  bytesSkipped: number;
  /** Set on the last event of a request; never throttled away. */
  final?: boolean;
}

export interface OpContext {
  cwd: string;
  signal: AbortSignal;
  progress(p: Progress): void;
}

export type Op = (args: Record<string, unknown>, ctx: OpContext) => Promise<{ result: unknown; warnings?: string[] }>;

/** Typed reads of a request's args: a wrong type is a UsageError naming the argument. */
class Args {
  constructor(private readonly a: Record<string, unknown>) {}
  private get<T>(key: string, type: string, ok: (v: unknown) => boolean, required: boolean): T | undefined {
    const v = this.a[key];
    if (v === undefined || v === null) {
      if (required) throw new UsageError(`args.${key} is required (${type})`);
      return undefined;
    }
    if (!ok(v)) throw new UsageError(`args.${key} must be ${type}, not ${Array.isArray(v) ? 'an array' : typeof v}`);
    return v as T;
  }
  str(key: string): string | undefined {
    return this.get(key, 'a string', (v) => typeof v === 'string', false);
  }
  reqStr(key: string): string {
    return this.get<string>(key, 'a string', (v) => typeof v === 'string', true)!;
  }
  int(key: string): number | undefined {
    return this.get(key, 'an integer', (v) => typeof v === 'number' && Number.isSafeInteger(v), false);
  }
  reqInt(key: string): number {
    return this.get<number>(key, 'an integer', (v) => typeof v === 'number' && Number.isSafeInteger(v), true)!;
  }
  bool(key: string): boolean | undefined {
    return this.get(key, 'a boolean', (v) => typeof v === 'boolean', false);
  }
  strs(key: string): string[] | undefined {
    return this.get(key, 'an array of strings', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), false);
  }
}

const transfer = (ctx: OpContext) => (p: TransferProgress) =>
  ctx.progress({ phase: p.phase, bytesMoved: p.bytesMoved, bytesToMove: p.bytesToMove, bytesSkipped: p.bytesSkipped, final: p.objectsMoved === p.objectsToMove });

/** args.repo (a directory in it), else the repository around the server's directory, else null. */
async function repoOf(a: Args, ctx: OpContext): Promise<Repository | null> {
  const dir = a.str('repo');
  if (dir !== undefined) return Repository.find(path.resolve(ctx.cwd, dir));
  return Repository.find(ctx.cwd).catch((e) => (e instanceof ConfigError ? null : Promise.reject(e)));
}

async function needRepo(a: Args, ctx: OpContext): Promise<Repository> {
  return (await repoOf(a, ctx)) ?? Repository.find(ctx.cwd); // throws the usual "not in a repository"
}

const abs = (ctx: OpContext, p: string) => path.resolve(ctx.cwd, p);

/**
 * What upload and a part push share: the file or directory at `key`, the repository holding it (else the
 * one args.repo or the working directory names, for its remotes), and the transfer's options.
 */
async function snapshotArgs(a: Args, ctx: OpContext, key: string) {
  const file = abs(ctx, a.reqStr(key));
  const holder = a.str('repo') === undefined ? await Repository.find(path.dirname(file)).catch(() => null) : null;
  return {
    path: file,
    repo: holder ?? (await repoOf(a, ctx)),
    remote: a.str('remote'),
    force: a.bool('force'),
    cacheDir: a.str('cacheDir'),
    concurrency: a.int('jobs'),
    deltas: a.bool('deltas'),
    packs: a.bool('packs'),
    onHashProgress: (p: IngestProgress) => ctx.progress({ phase: 'hash', bytesMoved: p.bytesDone, bytesToMove: p.bytesTotal, bytesSkipped: 0 }),
    onProgress: transfer(ctx),
    signal: ctx.signal,
  };
}

/** push with `parts`: the directory at `target` is part `part` of `parts` of `name` (manifest-spec.md §8b). */
async function pushPartOp(a: Args, ctx: OpContext): Promise<{ result: unknown; warnings?: string[] }> {
  const r = await pushPart({ ...(await snapshotArgs(a, ctx, 'target')), name: a.reqStr('name'), part: a.reqInt('part'), parts: a.reqInt('parts'), attempt: a.str('attempt') });
  const { warnings, ...result } = r;
  return { result, warnings };
}

export const OPS = {
  async resolve(args, ctx) {
    const a = new Args(args);
    const r = await resolveCheckpointInfo(a.reqStr('id'), { repo: await repoOf(a, ctx), remote: a.str('remote'), cacheDir: a.str('cacheDir'), offline: a.bool('offline'), concurrency: a.int('jobs'), onProgress: transfer(ctx) });
    const { warnings, ...result } = r;
    return { result, warnings };
  },
  async upload(args, ctx) {
    const a = new Args(args);
    return { result: await upload({ ...(await snapshotArgs(a, ctx, 'path')), name: a.str('name') }) };
  },
  async push(args, ctx) {
    const a = new Args(args);
    if (a.int('parts') !== undefined) return pushPartOp(a, ctx);
    const r = await push({ repo: await needRepo(a, ctx), target: a.reqStr('target'), remote: a.str('remote'), as: a.str('name'), force: a.bool('force'), concurrency: a.int('jobs'), deltas: a.bool('deltas'), packs: a.bool('packs'), onProgress: transfer(ctx), signal: ctx.signal });
    return { result: r };
  },
  async pull(args, ctx) {
    const a = new Args(args);
    const target = a.reqStr('target');
    const found = await repoOf(a, ctx);
    // Outside a repository the chunks go to the shared cache's store and the files beside the caller.
    const repo = found ?? (await CheckpointCache.open(await cacheDirFor({}))).repo;
    const dest = a.str('dest');
    const to = dest !== undefined ? abs(ctx, dest) : found ? undefined : abs(ctx, path.basename(target));
    const r = await pull({ repo, target, remote: a.str('remote'), to, store: a.bool('noStore') ? 'none' : a.bool('keepCopy') ? 'copy' : 'files', force: a.bool('force'), include: a.strs('include'), tensors: a.strs('tensors'), concurrency: a.int('jobs'), onProgress: transfer(ctx), signal: ctx.signal });
    return { result: r };
  },
  async latest(args, ctx) {
    const a = new Args(args);
    const prefix = a.reqStr('prefix');
    return { result: await latest({ prefix, repo: await repoOf(a, ctx), remote: a.str('remote') }) };
  },
  async names(args, ctx) {
    const a = new Args(args);
    const prefix = a.str('prefix') ?? '';
    const repo = await repoOf(a, ctx);
    let names: string[];
    if (a.str('remote') !== undefined || !repo) {
      const { remote, owned } = await openRemoteFor(repo, a.str('remote'));
      try {
        names = await remoteNames(remote, prefix);
      } finally {
        if (owned) await remote.close();
      }
    } else names = await localNames(repo);
    return { result: names.filter((n) => n.startsWith(prefix)).sort() };
  },
  async ls(args, ctx) {
    const a = new Args(args);
    return { result: await ls({ repo: await needRepo(a, ctx), remote: a.str('remote'), prefix: a.str('prefix') }) };
  },
  async diff(args, ctx) {
    const a = new Args(args);
    return { result: await diff({ a: a.reqStr('a'), b: a.reqStr('b'), repo: await repoOf(a, ctx), remote: a.str('remote'), tensors: a.bool('tensors') }) };
  },
  async prune(args, ctx) {
    const a = new Args(args);
    const remote = a.str('remote');
    const local = a.bool('local') ?? remote === undefined;
    const repo = local ? await needRepo(a, ctx) : await repoOf(a, ctx);
    return { result: await prune({ prefix: a.str('prefix'), keepLast: a.reqInt('keepLast'), keepEvery: a.int('keepEvery'), repo, local, remote, dryRun: a.bool('dryRun') }) };
  },
  async add(args, ctx) {
    const a = new Args(args);
    const r = await add({
      repo: await needRepo(a, ctx),
      path: abs(ctx, a.reqStr('path')),
      name: a.str('name'),
      pointer: a.bool('pointer'),
      onProgress: (p) => ctx.progress({ phase: 'hash', bytesMoved: p.bytesDone, bytesToMove: p.bytesTotal, bytesSkipped: p.bytesDone - p.bytesNew }),
    });
    return { result: r };
  },
  async remove(args, ctx) {
    const a = new Args(args);
    const name = a.reqStr('name');
    const { remote, owned } = await openRemoteFor(await repoOf(a, ctx), a.str('remote'));
    try {
      return { result: { name, removed: await deleteRemoteRef(remote, name) } };
    } finally {
      if (owned) await remote.close();
    }
  },
  async describe(args, ctx) {
    const a = new Args(args);
    return { result: await describe({ name: a.reqStr('name'), repo: await repoOf(a, ctx), remote: a.str('remote'), cacheDir: a.str('cacheDir') }) };
  },
  async read(args, ctx) {
    const a = new Args(args);
    const r = await readRange({ name: a.reqStr('name'), file: a.str('file'), offset: a.reqInt('offset'), length: a.reqInt('length'), repo: await repoOf(a, ctx), remote: a.str('remote'), cacheDir: a.str('cacheDir') });
    return { result: { ...r, data: r.data.toString('base64') } };
  },
  async commit(args, ctx) {
    const a = new Args(args);
    const { warnings, ...result } = await commitParts({ name: a.reqStr('name'), parts: a.reqInt('parts'), attempt: a.str('attempt'), repo: await repoOf(a, ctx), remote: a.str('remote'), force: a.bool('force'), cacheDir: a.str('cacheDir') });
    return { result, warnings };
  },
  async gc(args, ctx) {
    const a = new Args(args);
    return { result: await gc({ repo: await repoOf(a, ctx), remote: a.str('remote'), dryRun: a.bool('dryRun') }) };
  },
  async verify(args, ctx) {
    const a = new Args(args);
    return { result: await verify({ repo: await needRepo(a, ctx), remote: a.str('remote'), deep: a.bool('deep') }) };
  },
} satisfies Record<string, Op>;
