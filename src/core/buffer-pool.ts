// Reusable buffers for chunk-sized I/O. Allocating a fresh buffer per chunk (a stream's pieces, a
// readFile) costs little each time but, at a gigabyte of chunks, most of a pull's CPU went to the
// garbage collector finalizing them; a pull reuses a handful of buffers instead.

/** Capacities are powers of two from 64 KiB, so buffers of nearby sizes are shared. */
const MIN_CAPACITY = 64 << 10;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  /** A buffer of at least `size` bytes (its length is its capacity); give it back with release(). */
  take(size: number): Buffer {
    let cap = MIN_CAPACITY;
    while (cap < size) cap *= 2;
    return this.free.get(cap)?.pop() ?? Buffer.allocUnsafeSlow(cap);
  }

  release(buf: Buffer): void {
    const list = this.free.get(buf.length);
    if (list) list.push(buf);
    else this.free.set(buf.length, [buf]);
  }
}
