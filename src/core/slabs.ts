// Read buffers shared by the chunks cut from them (chunkFile, chunkFileParallel): a slab goes back to the
// pool only once the reader and every chunk held from it have let go, and free slabs are kept per size
// for the next file (an ingest cuts file after file; without sharing, each file's slabs were left to the
// collector and a 4-shard add peaked ~60 MiB higher).

export interface RawChunk {
  /** Offset of the chunk in the file. */
  offset: number;
  /** A view into the reader's buffer: valid only until the generator resumes, unless held. */
  data: Buffer;
  /** Keeps `data` valid until the returned release function is called (no copy is made). */
  hold(): () => void;
}

export interface Slab {
  /** The reader's own reference plus one per chunk held. */
  refs: number;
  readonly buf: Buffer;
}

export class SlabPool<S extends Slab> {
  private readonly free = new Map<number, S[]>();
  private freeBytes = 0;

  /** `make` returns a new slab of `size` bytes with refs = 1. */
  constructor(
    private readonly make: (size: number) => S,
    private readonly maxFreeBytes = 64 << 20,
  ) {}

  take(size: number): S {
    const s = this.free.get(size)?.pop();
    if (!s) return this.make(size);
    this.freeBytes -= size;
    s.refs = 1;
    return s;
  }

  release(s: S): void {
    if (--s.refs !== 0 || this.freeBytes + s.buf.length > this.maxFreeBytes) return;
    const list = this.free.get(s.buf.length);
    if (list) list.push(s);
    else this.free.set(s.buf.length, [s]);
    this.freeBytes += s.buf.length;
  }

  /** The chunk at slab.buf[start, start + length), file offset `offset`: a view, kept valid by hold(). */
  chunk(slab: S, offset: number, start: number, length: number): RawChunk {
    return {
      offset,
      data: slab.buf.subarray(start, start + length),
      hold: () => {
        slab.refs++;
        let released = false;
        return () => {
          if (!released) this.release(slab);
          released = true;
        };
      },
    };
  }
}
