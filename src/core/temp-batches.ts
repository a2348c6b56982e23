// Many small files written to new temp files beside their targets: one by one in this tick
// (writeTempSync), or by the thread pool a batch at a time (TempBatches, with the addon's writeFiles).

import fsSync from 'node:fs';
import { canWriteFiles, writeNewFiles } from './store-chunk.js';
import { tempPathFor } from './store.js';

/**
 * Writes a whole small file's bytes to a new temp file beside its target (fileDir made ready) in this
 * tick, without a thread-pool round trip per step; returns the temp's path for the caller to rename.
 */
export function writeTempSync(target: string, mode: number, data: readonly Uint8Array[]): string {
  const tmp = tempPathFor(target);
  const fd = fsSync.openSync(tmp, 'wx', mode);
  try {
    for (const d of data) for (let at = 0; at < d.length; ) at += fsSync.writeSync(fd, d, at, d.length - at);
  } catch (e) {
    fsSync.closeSync(fd);
    fsSync.rmSync(tmp, { force: true });
    throw e;
  }
  fsSync.closeSync(fd);
  return tmp;
}

/** A batch of small files' temps is sent to be written at this many files or bytes. */
const BATCH_FILES = 256;
const BATCH_BYTES = 1 << 20;
/** Batches being written at once. */
const BATCHES_IN_FLIGHT = 2;

/**
 * Small files' temps (writeTempSync's), written by the thread pool in batches of up to 256 files or
 * 1 MiB (writeNewFiles: one job each, at most two at once) while the main thread goes on downloading and
 * verifying the next files. Opened, written and closed one after the other on the main thread, their
 * system calls were about half of a pull of 10,000 small files, with the second core idle. Each file's
 * bytes are copied into the batch, so the caller may reuse its buffers at once. Without the addon, or for
 * a file larger than a batch, the temp is written at once (writeTempSync). `intoPlace`: each temp is
 * renamed to its target once written (an add's small objects, ObjectWriter.queue).
 */
export class TempBatches {
  private paths: string[] = [];
  private targets: string[] = [];
  private readonly meta = new Uint32Array(2 * BATCH_FILES);
  private data: Buffer | null = null;
  private bytes = 0;
  private readonly spare: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { e: unknown } | null = null;

  constructor(private readonly intoPlace = false) {}

  /** The temp's path (its bytes not yet written: flush() waits for them). Waits while two batches are being written. */
  async write(target: string, mode: number, data: readonly Uint8Array[]): Promise<string> {
    let size = 0;
    for (const d of data) size += d.length;
    if (!canWriteFiles || size > BATCH_BYTES) return writeTempSync(target, mode, data);
    for (;;) {
      if (this.failure) throw this.failure.e;
      if (this.fits(size)) break;
      if (this.inFlight.size < BATCHES_IN_FLIGHT) this.send();
      else await Promise.race(this.inFlight);
    }
    // From here to the return nothing waits, so no other write comes in between.
    return this.put(target, mode, data);
  }

  /**
   * write() of a file of at most a batch's bytes (the caller checks canWriteFiles), without waiting: a
   * full batch is sent whatever is being written, and the caller waits with drain() now and then.
   */
  add(target: string, mode: number, data: Uint8Array): void {
    if (this.failure) throw this.failure.e;
    if (data.length > BATCH_BYTES) throw new RangeError(`${data.length} bytes are more than a batch holds`);
    if (!this.fits(data.length)) this.send();
    this.put(target, mode, [data]);
  }

  /** Waits while two batches or more are being written; throws a failure. */
  async drain(): Promise<void> {
    while (this.inFlight.size >= BATCHES_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure.e;
  }

  /** Waits until every file given is written; throws the first failure. */
  async flush(): Promise<void> {
    if (this.paths.length && !this.failure) this.send();
    await this.settle();
    if (this.failure) throw this.failure.e;
  }

  /** Waits for the batches being written, whatever becomes of them (before a failed pull removes its temps). */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled(this.inFlight);
  }

  private fits(size: number): boolean {
    return this.paths.length === 0 || (this.paths.length < BATCH_FILES && this.bytes + size <= BATCH_BYTES);
  }

  private put(target: string, mode: number, data: readonly Uint8Array[]): string {
    const batch = (this.data ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES));
    for (const d of data) {
      batch.set(d, this.bytes);
      this.bytes += d.length;
    }
    const tmp = tempPathFor(target);
    const n = this.paths.push(tmp) - 1;
    if (this.intoPlace) this.targets.push(target);
    this.meta[2 * n] = mode;
    this.meta[2 * n + 1] = this.bytes;
    return tmp;
  }

  private send(): void {
    const data = this.data!;
    const written = writeNewFiles(this.paths, this.meta.slice(0, 2 * this.paths.length), data.subarray(0, this.bytes), this.intoPlace ? this.targets : undefined)
      .catch((e) => void (this.failure ??= { e }))
      .finally(() => {
        this.inFlight.delete(written);
        this.spare.push(data);
      });
    this.inFlight.add(written);
    this.paths = [];
    this.targets = [];
    this.data = null;
    this.bytes = 0;
  }
}
