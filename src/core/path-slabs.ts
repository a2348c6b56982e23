// Many short strings (file paths) held as UTF-8 bytes in shared slabs, each found by its number: ~22
// bytes a path of 16 characters, where a string took 32 and a path built by concatenation (a folder's
// prefix + a name) ~64. A decoded manifest's files and a folder's listing hold 400,000 paths so.

/** Paths are kept in slabs of this size; a path's place is its slab's number << SLAB_BITS | its offset. */
const SLAB_BITS = 20;

export class PathSlabs {
  private readonly slabs: Buffer[] = [];
  private used = 0;
  private place: Uint32Array;
  private bytes: Uint16Array;
  length = 0;

  /** `expected`: how many paths are coming (more may come; the lists grow). */
  constructor(private readonly expected = 64) {
    this.place = new Uint32Array(Math.max(16, expected));
    this.bytes = new Uint16Array(Math.max(16, expected));
  }

  /** Adds a path (at most 65,535 bytes) and returns its number. */
  push(p: string): number {
    const n = Buffer.byteLength(p);
    if (n > 0xffff) throw new Error(`a path of ${n} bytes is longer than a slab entry`);
    let slab = this.slabs.at(-1);
    if (!slab || this.used + n > slab.length) {
      // The first slab fits a short list; later ones are whole slabs.
      const size = this.slabs.length ? 1 << SLAB_BITS : Math.min(1 << SLAB_BITS, Math.max(4096, this.expected * 24));
      this.slabs.push((slab = Buffer.allocUnsafeSlow(Math.max(size, n))));
      this.used = 0;
    }
    if (this.length === this.place.length) this.grow();
    slab.write(p, this.used);
    this.place[this.length] = ((this.slabs.length - 1) << SLAB_BITS) | this.used;
    this.bytes[this.length] = n;
    this.used += n;
    return this.length++;
  }

  /** Path i (a new string each call). */
  at(i: number): string {
    const at = this.place[i]!;
    const offset = at & ((1 << SLAB_BITS) - 1);
    return this.slabs[at >>> SLAB_BITS]!.toString('utf8', offset, offset + this.bytes[i]!);
  }

  private grow(): void {
    const place = new Uint32Array(this.place.length * 2);
    place.set(this.place);
    const bytes = new Uint16Array(this.bytes.length * 2);
    bytes.set(this.bytes);
    this.place = place;
    this.bytes = bytes;
  }
}
