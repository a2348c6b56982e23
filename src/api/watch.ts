// watch: upload each new checkpoint in a directory while training runs. A file is taken once it is
// complete — its size and mtime unchanged for `stableMs` and no process holding it open for writing —
// then snapshotted into the store and pushed under a name made from a template, one at a time with
// retries. The writer is never waited on: we only read its files. A journal remembers what was uploaded
// (by size and mtime), so a restart uploads only what was missed. Abort (SIGINT/SIGTERM) finishes the
// upload in flight and returns.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorLine, UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { globMatcher } from '../core/glob.js';
import { ingestPath } from '../core/ingest.js';
import { isOpenForWriting } from '../core/openfiles.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { Repository, REPO_DIR } from '../core/repo.js';
import { previousVersion } from '../core/snapshot.js';
import { TMP_MARK, writeAtomic } from '../core/store.js';
import { assertRefName } from '../names.js';
import type { Remote } from '../remote/types.js';
import { pushSnapshot } from '../sync/push.js';
import { openRemoteFor } from './remote.js';

export interface WatchOptions {
  dir: string;
  remote?: string | Remote;
  /** Where snapshots are stored before upload: found from dir, else the shared cache's store. */
  repo?: Repository | null;
  /** Glob of files to upload, relative to dir (default "*": every file at the top). */
  pattern?: string;
  /** Remote name: {name} file name, {stem} without extension, {ext}, {path} relative path, {dir} the directory's name. */
  nameTemplate?: string;
  /** How long size and mtime must stay unchanged (default 2 s). */
  stableMs?: number;
  pollMs?: number;
  /** Attempts per file before giving up on it until it changes or watch restarts (default 5). */
  attempts?: number;
  retryDelayMs?: number;
  /** Upload what is complete now, then return, instead of watching. */
  once?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: WatchEvent) => void;
}

export type WatchEvent =
  | { type: 'uploaded'; file: string; name: string; manifest: string; bytesUploaded: number; bytes: number }
  | { type: 'failed'; file: string; name: string; attempt: number; error: string; willRetry: boolean };

export interface WatchResult {
  uploaded: number;
  failed: number;
  /** Files seen but not yet complete (or not yet uploaded) when watch returned. */
  pending: number;
}

interface JournalEntry {
  size: number;
  mtimeMs: number;
  name: string;
  manifest: string;
}

interface Seen {
  size: number;
  mtimeMs: number;
  since: number;
  attempts: number;
  notBefore: number;
}

export function nameFor(template: string, rel: string, dir: string): string {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const vars: Record<string, string> = {
    name: base,
    stem: dot > 0 ? base.slice(0, dot) : base,
    ext: dot > 0 ? base.slice(dot + 1) : '',
    path: rel,
    dir: path.basename(dir),
  };
  const name = template.replace(/\{(\w+)\}/g, (m, k: string) => {
    if (!(k in vars)) throw new UsageError(`unknown placeholder ${m} in the name template (use {name}, {stem}, {ext}, {path}, {dir})`);
    return vars[k]!;
  });
  assertRefName(name);
  return name;
}

export async function watch(opts: WatchOptions): Promise<WatchResult> {
  const dir = path.resolve(opts.dir);
  if (!(await fs.stat(dir).catch(() => null))?.isDirectory()) throw new UsageError(`${opts.dir} is not a directory`);
  const repo = opts.repo ?? (await Repository.find(dir).catch(() => null)) ?? (await CheckpointCache.open(await cacheDirFor({}))).repo;
  const template = opts.nameTemplate ?? '{name}';
  const matches = globMatcher(opts.pattern ?? '*');
  const stableMs = opts.stableMs ?? 2000;
  const pollMs = opts.pollMs ?? Math.max(50, Math.min(500, stableMs / 4));
  const attempts = opts.attempts ?? 5;
  const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote, { mayCreate: true });
  const journalFile = path.join(repo.dir, 'watch', crypto.createHash('sha256').update(`${dir}\n${remote.displayUrl}`).digest('hex').slice(0, 16) + '.json');
  const journal: Record<string, JournalEntry> = await fs.readFile(journalFile, 'utf8').then((t) => JSON.parse(t).files ?? {}, () => ({}));
  const seen = new Map<string, Seen>();
  const result: WatchResult = { uploaded: 0, failed: 0, pending: 0 };

  const upload = async (rel: string, s: Seen): Promise<void> => {
    const abs = path.join(dir, ...rel.split('/'));
    const name = nameFor(template, rel, dir);
    try {
      const snap = await ingestPath(repo.store, abs, { previous: await previousVersion(repo, name, abs) });
      const after = await fs.stat(abs);
      if (after.size !== s.size || after.mtimeMs !== s.mtimeMs) return; // changed while we read it: wait for it again
      await repo.withLock(() => repo.setRef(name, snap.manifestHash));
      // The newest file wins the name; an earlier version stays in its history.
      const pushed = await pushSnapshot(repo, remote, name, snap.manifestHash, { force: true });
      journal[rel] = { size: s.size, mtimeMs: s.mtimeMs, name, manifest: snap.manifestHash };
      await writeAtomic(journalFile, JSON.stringify({ version: 1, dir, remote: remote.displayUrl, files: journal }) + '\n');
      seen.delete(rel);
      result.uploaded++;
      opts.onEvent?.({ type: 'uploaded', file: rel, name, manifest: snap.manifestHash, bytesUploaded: pushed.bytesUploaded, bytes: snap.bytes });
    } catch (e) {
      s.attempts++;
      const willRetry = s.attempts < attempts;
      s.notBefore = Date.now() + (opts.retryDelayMs ?? 1000) * 2 ** (s.attempts - 1);
      if (!willRetry) result.failed++;
      opts.onEvent?.({ type: 'failed', file: rel, name, attempt: s.attempts, error: errorLine(e), willRetry });
    }
  };

  try {
    for (;;) {
      const now = Date.now();
      let ready: [string, Seen] | undefined;
      let waiting = 0;
      for (const f of await listCandidates(dir, matches)) {
        const done = journal[f.rel];
        if (done && done.size === f.size && done.mtimeMs === f.mtimeMs) continue;
        const s = seen.get(f.rel);
        if (!s || s.size !== f.size || s.mtimeMs !== f.mtimeMs) {
          seen.set(f.rel, { size: f.size, mtimeMs: f.mtimeMs, since: now, attempts: 0, notBefore: 0 });
          waiting++;
          continue;
        }
        if (s.attempts >= attempts) continue;
        waiting++;
        if (!ready && now - s.since >= stableMs && now >= s.notBefore && !(await isOpenForWriting(path.join(dir, ...f.rel.split('/'))))) ready = [f.rel, s];
      }
      result.pending = waiting;
      if (opts.signal?.aborted) break;
      if (ready) {
        await upload(...ready); // one at a time: bounded load on the machine that is training
        continue;
      }
      if (opts.once && waiting === 0) break;
      await sleep(pollMs, opts.signal);
    }
  } finally {
    if (owned) await remote.close();
  }
  return result;
}

async function listCandidates(dir: string, matches: (rel: string) => boolean): Promise<{ rel: string; size: number; mtimeMs: number }[]> {
  const out: { rel: string; size: number; mtimeMs: number }[] = [];
  const walk = async (d: string, prefix: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      // Temp files (ours, or a writer's dotfile) and pointer files are never checkpoints.
      if (e.name === REPO_DIR || e.name.startsWith('.') || e.name.includes(TMP_MARK) || e.name.endsWith(POINTER_SUFFIX)) continue;
      const rel = prefix + e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), rel + '/');
      else if (e.isFile() && matches(rel)) {
        const st = await fs.stat(path.join(d, e.name)).catch(() => null);
        if (st) out.push({ rel, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
  };
  await walk(dir, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
