// Reusable buffers for chunk-sized I/O. Allocating a fresh buffer per chunk (a stream's pieces, a
// readFile) costs little each time but, at a gigabyte of chunks, most of a pull's CPU went to the
// garbage collector finalizing them; a pull reuses a handful of buffers instead.

/** Sizes are rounded up to this, so chunks of nearly the same size share buffers. */
const GRAIN = 64 << 10;

/** Bytes in a buffer taken from a pool: release() hands it back once they are used. */
export interface PooledBytes {
  data: Buffer;
  release(): void;
}

export class BufferPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;

  /**
   * @param maxFreeBytes bytes of released buffers kept for reuse (the largest buffers first); beyond that
   * they are left to the collector. A count would not do: chunks of mixed sizes (4 MiB pieces, small
   * groups) once left sixteen 4 MiB buffers idle in a pull that only ever held four at a time.
   */
  constructor(private readonly maxFreeBytes = 16 << 20) {}

  /** A buffer of at least `size` bytes (its length is its capacity); give it back with release(). */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.length;
      if (len >= size && (best < 0 || len < this.free[best]!.length)) best = i;
    }
    if (best < 0) return Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / GRAIN) * GRAIN);
    const buf = this.free.splice(best, 1)[0]!;
    this.freeBytes -= buf.length;
    return buf;
  }

  release(buf: Buffer): void {
    this.free.push(buf);
    this.freeBytes += buf.length;
    while (this.freeBytes > this.maxFreeBytes) {
      // Drop the smallest: the larger ones serve any request the smaller ones could.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
      this.freeBytes -= this.free.splice(smallest, 1)[0]!.length;
    }
  }
}
