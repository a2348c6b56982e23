// Reusable buffers for chunk-sized I/O. Allocating a fresh buffer per chunk (a stream's pieces, a
// readFile) costs little each time but, at a gigabyte of chunks, most of a pull's CPU went to the
// garbage collector finalizing them; a pull reuses a handful of buffers instead.

/** Sizes are rounded up to this, so chunks of nearly the same size share buffers. */
const GRAIN = 64 << 10;

export class BufferPool {
  private readonly free: Buffer[] = [];

  /** @param maxFree buffers kept for reuse; beyond that, released buffers are left to the collector. */
  constructor(private readonly maxFree = 16) {}

  /** A buffer of at least `size` bytes (its length is its capacity); give it back with release(). */
  take(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.length;
      if (len >= size && (best < 0 || len < this.free[best]!.length)) best = i;
    }
    if (best >= 0) return this.free.splice(best, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / GRAIN) * GRAIN);
  }

  release(buf: Buffer): void {
    this.free.push(buf);
    if (this.free.length > this.maxFree) {
      // Keep the larger ones: they serve any request the smaller ones could.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
      this.free.splice(smallest, 1);
    }
  }
}
