// A git-lfs standalone custom transfer agent (git-lfs docs/custom-transfers.md): line-delimited JSON
// on stdin/stdout — init, upload/download with progress, terminate. Each LFS object (oid = SHA-256 of
// the whole file) is stored as a ckptsync file snapshot named lfs/sha256/<oid> on any ckptsync remote
// (manifest-spec.md, "git-lfs objects"), so a second version uploads only the chunks that changed.

import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { errorLine, NotFoundError, IntegrityError, isNotFound } from '../errors.js';
import { ingestPath } from '../core/ingest.js';
import { materialize } from '../core/materialize.js';
import { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';
import { fetchSnapshot } from '../sync/pull.js';
import { pushSnapshot } from '../sync/push.js';
import { readRemoteRef } from '../sync/refs.js';
import type { TransferProgress } from '../sync/transfer.js';

/** The ckptsync name under which an LFS object is stored. */
export function lfsName(oid: string): string {
  return `lfs/sha256/${oid}`;
}

export interface LfsTransferStats {
  oid: string;
  operation: 'upload' | 'download';
  size: number;
  /** Bytes that crossed the network for this object (chunks the other side lacked). */
  bytesMoved: number;
  /** True when the remote (upload) or the local store (download) had the whole object already. */
  skipped: boolean;
}

export interface LfsAgentOptions {
  /** Where the agent keeps its chunk store: a ckptsync repository (created if missing). */
  storeDir: string;
  /**
   * Opens the remote on `init`, so a bad remote is reported to git-lfs as an init error. `mayCreate`: the
   * session uploads, so a location that does not exist yet is fine; a download session refuses one.
   */
  openRemote: (opts: { mayCreate: boolean }) => Promise<Remote>;
  input: Readable;
  output: Writable;
  /** Called after each object; the CLI writes these to CKPTSYNC_LFS_LOG. */
  onTransfer?: (s: LfsTransferStats) => void;
}

const OID_RE = /^[0-9a-f]{64}$/;

export async function runLfsAgent(opts: LfsAgentOptions): Promise<void> {
  const send = (msg: unknown) => opts.output.write(JSON.stringify(msg) + '\n');
  let remote: Remote | null = null;
  let repo: Repository | null = null;
  const lines = readline.createInterface({ input: opts.input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (!line.trim()) continue;
      const ev = JSON.parse(line) as Record<string, any>;
      if (ev.event === 'init') {
        try {
          repo = (await Repository.init(opts.storeDir)).repo;
          remote = await opts.openRemote({ mayCreate: ev.operation === 'upload' });
          send({});
        } catch (e) {
          send({ error: { code: 32, message: errorLine(e) } });
        }
      } else if (ev.event === 'terminate') {
        break;
      } else if (ev.event === 'upload' || ev.event === 'download') {
        const oid = String(ev.oid);
        try {
          if (!repo || !remote) throw new Error('transfer before init');
          if (!OID_RE.test(oid)) throw new Error(`not a SHA-256 oid: ${oid.slice(0, 80)}`);
          const progress = (done: number, since: number) => send({ event: 'progress', oid, bytesSoFar: done, bytesSinceLast: since });
          if (ev.event === 'upload') {
            const s = await uploadObject(repo, remote, oid, Number(ev.size), String(ev.path), progress);
            opts.onTransfer?.(s);
            send({ event: 'complete', oid });
          } else {
            const { stats, file } = await downloadObject(repo, remote, oid, Number(ev.size), progress);
            opts.onTransfer?.(stats);
            send({ event: 'complete', oid, path: file });
          }
        } catch (e) {
          send({ event: 'complete', oid, error: { code: isNotFound(e) ? 404 : 1, message: errorLine(e) } });
        }
      }
    }
  } finally {
    lines.close();
    await remote?.close();
  }
}

type Progress = (bytesSoFar: number, bytesSinceLast: number) => void;

/** Progress as git-lfs wants it: bytes of the object accounted for, skipped chunks counting as done. */
function progressAdapter(size: number, report: Progress): (p: TransferProgress) => void {
  let last = 0;
  return (p) => {
    const done = Math.min(size, p.bytesSkipped + p.bytesMoved);
    if (done > last) {
      report(done, done - last);
      last = done;
    }
  };
}

export async function uploadObject(repo: Repository, remote: Remote, oid: string, size: number, file: string, report: Progress): Promise<LfsTransferStats> {
  const name = lfsName(oid);
  const existing = await readRemoteRef(remote, name);
  if (existing && (await remote.stat(keyOf({ kind: 'manifest', name: existing.doc.target })))) {
    report(size, size);
    return { oid, operation: 'upload', size, bytesMoved: 0, skipped: true };
  }
  const ingested = await ingestPath(repo.store, file);
  if (ingested.bytes !== size) throw new IntegrityError(`${file} has ${ingested.bytes} bytes; git-lfs said ${size}`);
  // Content-addressed: the name never legitimately moves, so any current target is as good as ours.
  const r = await pushSnapshot(repo, remote, name, ingested.manifestHash, { onProgress: progressAdapter(size, report), force: true });
  return { oid, operation: 'upload', size, bytesMoved: r.bytesUploaded, skipped: false };
}

export async function downloadObject(repo: Repository, remote: Remote, oid: string, size: number, report: Progress): Promise<{ stats: LfsTransferStats; file: string }> {
  const ref = await readRemoteRef(remote, lfsName(oid));
  if (!ref) throw new NotFoundError(`LFS object ${oid} is not on ${remote.displayUrl}`, { oid });
  const fetched = await fetchSnapshot(repo, remote, ref.doc.target, { onProgress: progressAdapter(size, report) });
  const dir = path.join(repo.dir, 'tmp');
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `lfs-${oid}-${crypto.randomBytes(4).toString('hex')}`);
  await materialize(repo.store, fetched.manifest, file);
  // git-lfs trusts the file we hand it: prove it is the object asked for.
  const h = crypto.createHash('sha256');
  for await (const part of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(part as Buffer);
  const actual = h.digest('hex');
  const st = await fsp.stat(file);
  if (actual !== oid || st.size !== size) {
    await fsp.rm(file, { force: true });
    throw new IntegrityError(`LFS object ${oid} from ${remote.displayUrl} rebuilt to ${st.size} bytes hashing to ${actual}`, { oid });
  }
  return { stats: { oid, operation: 'download', size, bytesMoved: fetched.bytesDownloaded, skipped: fetched.bytesDownloaded === 0 }, file };
}
