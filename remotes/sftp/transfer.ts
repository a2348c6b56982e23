// SFTP file operations as promises, and pipelined transfers. SFTP answers each read or write request
// separately, so one request at a time (what ssh2's streams do) is bound by the round-trip time; here
// several requests of one file are kept in flight, as OpenSSH's sftp client does (its -R option).

import path from 'node:path/posix';
import { Readable } from 'node:stream';
import type { Attributes, SFTPWrapper, Stats } from 'ssh2';
import { minorCollectionEvery } from '../kit/files.js';
import { isStatus } from './connections.js';
import { SftpStatus } from './wire.js';

/** Bytes per read or write request: under OpenSSH's 256 KiB packet limit, so ssh2 never splits one. */
const PIECE = 128 * 1024;
/**
 * Read requests kept in flight per download (4 MiB). A transfer holds 16 MiB of chunks in flight at most
 * (src/sync/transfer.ts), so with 4 MiB chunks four objects move at once: 32 each keeps as many requests
 * in flight as sixteen 1 MiB chunks at 16 did. 1 GiB as 4 MiB objects, 4 at once
 * (`node dist/scripts/bench/pack-probe.js --server sftp --pack 4 --jobs 4 --rounds 2`): 193-200 MB/s at
 * 16, 207-229 MB/s at 32; peak memory the same.
 */
const DEPTH = 32;
/**
 * Write requests kept in flight per upload (1 MiB). More only waits in ssh2's queue, copied into
 * packets, for the SSH channel's window (OpenSSH's sshd opens 2 MiB per session): 1 GiB pushed to the
 * loopback sshd, 4 uploads at once, alternating (`push` from the CLI, 3 rounds): 32 in flight 9.1-10.0 s,
 * 6.5-6.7 user CPU-s, peak RSS 144-145 MB; 16: 7.3-8.5 s, 133-138 MB; 8: 6.5-8.1 s, 3.8-4.6 CPU-s,
 * 127-134 MB; 4 and 2 about as 8.
 */
const WRITE_DEPTH = 8;

/**
 * ssh2 deciphers every packet into a fresh Buffer and copies every write into new packets: a minor
 * collection every 2 MiB moved frees them (src/core/reclaim.ts). 1 GiB from and to the loopback sshd,
 * alternating, off (`CKPTSYNC_RECLAIM=0`) and on: pulled, peak RSS 147-157 -> 126-130 MB, 5.6-6.4 ->
 * 3.9-4.5 user CPU-s; pushed (WRITE_DEPTH 8), 150-154 -> 128-129 MB, 5.7-6.0 -> 3.6-3.9 user CPU-s,
 * 7.1-7.9 -> 5.8-6.7 s. (At 32 writes in flight, pushes paid ~0.7 CPU-s for it instead.)
 */
const reclaim = minorCollectionEvery(2 * 1024 * 1024);

export function call<T>(f: (cb: (err: Error | null | undefined, res: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      f((err, res) => (err ? reject(err) : resolve(res)));
    } catch (e) {
      // ssh2 throws synchronously when the channel is already gone.
      reject(e);
    }
  });
}

export const open = (sftp: SFTPWrapper, p: string, flags: "r" | "w" | "wx") => call<Buffer>((cb) => sftp.open(p, flags, cb));
export const closeHandle = (sftp: SFTPWrapper, h: Buffer) => call<void>((cb) => sftp.close(h, cb as never));
export const fstat = (sftp: SFTPWrapper, h: Buffer) => call<Stats>((cb) => sftp.fstat(h, cb));
export const stat = (sftp: SFTPWrapper, p: string) => call<Stats>((cb) => sftp.stat(p, cb));
export const unlink = (sftp: SFTPWrapper, p: string) => call<void>((cb) => sftp.unlink(p, cb as never));
/** Overwrites the target atomically (rename(2) on the server). */
export const replace = (sftp: SFTPWrapper, from: string, to: string) => call<void>((cb) => sftp.ext_openssh_rename(from, to, cb as never));
/** The standard SFTP rename: OpenSSH's sftp-server refuses it when the target exists (link + unlink). */
export const renameNoReplace = (sftp: SFTPWrapper, from: string, to: string) => call<void>((cb) => sftp.rename(from, to, cb as never));
export const readdir = (sftp: SFTPWrapper, p: string) =>
  call<{ filename: string; attrs: Attributes & { isDirectory(): boolean; isFile(): boolean } }[]>((cb) => sftp.readdir(p, cb as never));

/** Creates a directory and its missing parents; an existing directory is fine. */
export async function mkdirp(sftp: SFTPWrapper, dir: string): Promise<void> {
  if (dir === '' || dir === '.' || dir === '/') return;
  try {
    await call<void>((cb) => sftp.mkdir(dir, cb as never));
  } catch (e) {
    if (isStatus(e, SftpStatus.NO_SUCH_FILE)) {
      await mkdirp(sftp, path.dirname(dir));
      return mkdirp(sftp, dir);
    }
    // OpenSSH answers FAILURE for EEXIST (also when a concurrent put made it first).
    const st = await stat(sftp, dir).catch(() => null);
    if (!st?.isDirectory()) throw e;
  }
}

function writeAt(sftp: SFTPWrapper, h: Buffer, buf: Buffer, pos: number): Promise<void> {
  return call<void>((cb) => sftp.write(h, buf, 0, buf.length, pos, cb as never));
}

/** Writes a buffer or a stream to an open handle with DEPTH requests in flight; returns the bytes written. */
export async function writeAll(sftp: SFTPWrapper, h: Buffer, data: Buffer | Readable): Promise<number> {
  const inflight = new Set<Promise<void>>();
  let failed: unknown;
  let pos = 0;
  const send = async (piece: Buffer) => {
    const p: Promise<void> = writeAt(sftp, h, piece, pos).then(
      () => {
        inflight.delete(p);
        reclaim(piece.length);
      },
      (e) => {
        inflight.delete(p);
        failed ??= e;
      },
    );
    pos += piece.length;
    inflight.add(p);
    if (inflight.size >= WRITE_DEPTH) await Promise.race(inflight);
    if (failed) throw failed;
  };
  const pieces = async (buf: Buffer) => {
    for (let off = 0; off < buf.length; off += PIECE) await send(buf.subarray(off, off + PIECE));
  };
  try {
    if (Buffer.isBuffer(data)) await pieces(data);
    else for await (const chunk of data) await pieces(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  } finally {
    // Let every request settle before the caller closes the handle (or gives up on it).
    await Promise.all(inflight);
  }
  if (failed) throw failed;
  return pos;
}

/** Reads up to len bytes at pos, fewer only at the end of the file. */
async function readAt(sftp: SFTPWrapper, h: Buffer, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = await call<number>((cb) => sftp.read(h, buf, got, len - got, pos + got, cb as never));
    if (!n) break; // EOF
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/**
 * Reads an open file from its start into `into` until the file ends or `into` is full, DEPTH requests in
 * flight, each landing at its own offset (no intermediate buffers); returns the bytes read. Every request
 * has settled when it returns or throws, so the caller may close the handle.
 */
export async function readAllInto(sftp: SFTPWrapper, h: Buffer, into: Buffer): Promise<number> {
  let eof = into.length; // lowered to the first short read: the file ends there
  let next = 0;
  let failed: unknown;
  const piece = async (pos: number, len: number) => {
    let got = 0;
    while (got < len) {
      const n = await call<number>((cb) => sftp.read(h, into, pos + got, len - got, pos + got, cb as never));
      if (!n) break;
      got += n;
      reclaim(n);
    }
    if (got < len) eof = Math.min(eof, pos + got);
  };
  const worker = async () => {
    while (!failed && next < eof) {
      const pos = next;
      const len = Math.min(PIECE, into.length - pos);
      next += len;
      await piece(pos, len).catch((e) => void (failed ??= e));
    }
  };
  await Promise.all(Array.from({ length: Math.min(DEPTH, Math.ceil(into.length / PIECE)) }, worker));
  if (failed) throw failed;
  return eof;
}

/**
 * A stream of bytes [start, end) of an open handle, DEPTH requests ahead of the reader. `done` runs once
 * the stream ends or is destroyed (it closes the handle); errors go through mapError.
 */
export function readStream(
  sftp: SFTPWrapper,
  h: Buffer,
  start: number,
  end: number,
  done: () => void,
  mapError: (e: unknown) => Error,
): Readable {
  const queue: { piece: Promise<Buffer>; len: number }[] = [];
  let next = start;
  const fill = () => {
    while (queue.length < DEPTH && next < end) {
      const len = Math.min(PIECE, end - next);
      const piece = readAt(sftp, h, next, len);
      piece.catch(() => {}); // surfaced when its turn comes, or dropped with the stream
      queue.push({ piece, len });
      next += len;
    }
  };
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      fill();
      const head = queue.shift();
      if (!head) {
        this.push(null);
        return;
      }
      head.piece.then(
        (buf) => {
          if (buf.length > 0) this.push(buf);
          // A short piece: the file (or the asked range) ends here.
          if (buf.length < head.len) this.push(null);
        },
        (e) => this.destroy(mapError(e)),
      );
    },
    destroy(err, cb) {
      finish();
      cb(err);
    },
  }).once('end', finish);
}
