// `pull --tensors`: a valid safetensors file holding only the tensors whose names match, written from
// the chunks that cover its header and those tensors and no others (manifest-spec.md §10d). Tensor-aware
// chunks (§2.2) end at tensor boundaries, so a slice downloads about the bytes of the tensors it keeps.
// Every chunk is verified against its hash before a byte of it is used.

import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.js';
import { globToRegExp } from '../core/glob.js';
import type { ManifestFile } from '../core/manifest.js';
import { fileModeOf } from '../core/materialize.js';
import type { Repository } from '../core/repo.js';
import { headerBytes, parseHeader, type TensorEntry } from '../core/safetensors.js';
import { tempPathFor } from '../core/store.js';
import type { Remote } from '../remote/types.js';
import { downloadChunk, remoteBases } from './pull.js';

export interface TensorSliceResult {
  /** Tensors written, of the file's. */
  tensors: number;
  tensorsTotal: number;
  /** Size of the file written. */
  bytesWritten: number;
  /** Bytes of the chunks read (from the store or downloaded) and of those downloaded. */
  bytesRead: number;
  bytesDownloaded: number;
  chunksRead: number;
  chunksDownloaded: number;
  chunksTotal: number;
}

/**
 * Writes to `dest` (temp file, then rename) a safetensors file of the tensors of `file` whose names match
 * one of `globs` (* and ? match any characters but "/"), with the same dtype, shape and bytes, in the
 * original order, and the header's __metadata__. Chunks come from the local store or the remote; with
 * `keepChunks` (the default) downloaded ones are stored, as a pull stores them.
 */
export async function writeTensorSlice(repo: Repository, remote: Remote, file: ManifestFile, globs: readonly string[], dest: string, opts: { keepChunks?: boolean } = {}): Promise<TensorSliceResult> {
  if ((await fs.lstat(dest).catch(() => null))?.isDirectory()) throw new UsageError(`${dest} is a directory; --tensors writes one file`);
  const chunks = new ChunkReader(repo, remote, file, opts.keepChunks !== false);
  const first = await chunks.read(0, Math.min(8, file.size));
  const head = await chunks.read(0, Math.min(headerBytes(first, file.path), file.size));
  const header = parseHeader(head, file.size, file.path);
  const matchers = globs.map((g) => globToRegExp(g));
  const kept = header.tensors.filter((t) => matchers.some((m) => m.test(t.name)));
  if (!kept.length) {
    throw new UsageError(`--tensors ${globs.map((g) => JSON.stringify(g)).join(' ')} matches none of the ${header.tensors.length} tensors of ${file.path}`);
  }
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const out = encodeHeader(kept, header.metadata);
  const size = out.length + kept.reduce((n, t) => n + t.end - t.begin, 0);
  const tmp = tempPathFor(dest);
  const fh = await fs.open(tmp, 'wx', fileModeOf(file));
  try {
    await fh.write(out);
    for (const t of kept) await chunks.copy(t.begin, t.end, fh);
    await fh.close();
    await fs.rename(tmp, dest);
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
  return { tensors: kept.length, tensorsTotal: header.tensors.length, bytesWritten: size, ...chunks.figures(), chunksTotal: file.chunks.length };
}

/** The 8-byte length and a JSON header for `kept`, their data laid end to end, padded with spaces to 8 bytes as the format's writers do. */
function encodeHeader(kept: TensorEntry[], metadata: Record<string, string> | undefined): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let at = 0;
  for (const t of kept) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.end - t.begin] };
    at += t.end - t.begin;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

/** Byte ranges of one file of a snapshot, read chunk by chunk; the last chunk is kept for the next range. */
class ChunkReader {
  private readonly starts: number[] = [];
  private last: { index: number; data: Buffer } | null = null;
  private readonly bases;
  private bytesRead = 0;
  private bytesDownloaded = 0;
  private chunksRead = 0;
  private chunksDownloaded = 0;

  constructor(
    private readonly repo: Repository,
    private readonly remote: Remote,
    private readonly file: ManifestFile,
    private readonly keep: boolean,
  ) {
    let at = 0;
    for (const s of file.sizes) {
      this.starts.push(at);
      at += s;
    }
    this.bases = remoteBases(repo, remote);
  }

  figures() {
    return { bytesRead: this.bytesRead, bytesDownloaded: this.bytesDownloaded, chunksRead: this.chunksRead, chunksDownloaded: this.chunksDownloaded };
  }

  /** The bytes [begin, end) of the file (a header: small). */
  async read(begin: number, end: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.each(begin, end, async (b) => void parts.push(Buffer.from(b)));
    return Buffer.concat(parts);
  }

  /** Appends the bytes [begin, end) of the file to fh, one chunk in memory at a time. */
  async copy(begin: number, end: number, fh: fs.FileHandle): Promise<void> {
    await this.each(begin, end, async (b) => void (await fh.write(b)));
  }

  private async each(begin: number, end: number, use: (b: Buffer) => Promise<void>): Promise<void> {
    if (begin >= end) return;
    let i = this.indexAt(begin);
    for (; i < this.file.chunks.length && this.starts[i]! < end; i++) {
      const data = await this.chunk(i);
      const from = Math.max(begin, this.starts[i]!) - this.starts[i]!;
      const to = Math.min(end, this.starts[i]! + data.length) - this.starts[i]!;
      await use(data.subarray(from, to));
    }
  }

  /** The chunk holding byte `offset`. */
  private indexAt(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Chunk i, verified: from the local store, else downloaded (and stored when keeping chunks). */
  private async chunk(i: number): Promise<Buffer> {
    if (this.last?.index === i) return this.last.data;
    const h = this.file.chunks[i]!;
    const size = this.file.sizes[i]!;
    let data = await this.repo.store.get('chunk', h).catch((e) => (e instanceof NotFoundError ? null : Promise.reject(e)));
    if (!data) {
      const got = await downloadChunk(this.remote, h, size, undefined, this.bases);
      data = Buffer.concat(got.data);
      got.release();
      if (this.keep) await this.repo.store.put('chunk', h, data);
      this.chunksDownloaded++;
      this.bytesDownloaded += size;
    }
    this.chunksRead++;
    this.bytesRead += size;
    this.last = { index: i, data };
    return data;
  }
}
