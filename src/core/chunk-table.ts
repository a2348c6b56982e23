// A set of chunk hashes held as bytes in one buffer, each with a number (its id, in order of first
// insertion) and a size: what a pull or a push of 400,000 small files keeps per chunk. A Map or Set keyed
// by 64-character hex strings cost ~130 bytes a chunk (string, entry, table); this costs ~46, and lets
// callers keep per-chunk state in typed arrays indexed by id.

export class ChunkTable {
  private words: Uint32Array;
  private bytes: Buffer;
  /** A chunk is at most 1 GiB (manifest-spec.md §4): four bytes a size, not a double's eight. */
  private sizes: Uint32Array;
  /** Open addressing, linear probing: id + 1, or 0 for an empty slot. */
  private slots: Int32Array;
  private n = 0;
  private readonly probe = new Uint32Array(8);
  private readonly probeBytes = Buffer.from(this.probe.buffer);

  constructor(expected = 64) {
    const cap = Math.max(16, expected);
    this.words = new Uint32Array(cap * 8);
    this.bytes = Buffer.from(this.words.buffer);
    this.sizes = new Uint32Array(cap);
    this.slots = new Int32Array(slotsFor(cap));
  }

  /** How many hashes it has room for before it grows. */
  get capacity(): number {
    return this.sizes.length;
  }

  /** How many distinct hashes it holds; ids run from 0 to count - 1. */
  get count(): number {
    return this.n;
  }

  /** The hash's id, added with `size` if it is new (a known hash keeps its first size). */
  add(hash: string, size = 0): number {
    this.parse(hash);
    return this.insert(size);
  }

  /** add() of a hash given as its 32 raw bytes. */
  addRaw(raw: Uint8Array, size = 0): number {
    this.probeBytes.set(raw.subarray(0, 32));
    return this.insert(size);
  }

  /** The id of the hash in `probe`, added if new. */
  private insert(size: number): number {
    let slot = this.findProbe();
    const held = this.slots[slot]!;
    if (held) return held - 1;
    if (!(size >= 0 && size <= 0xffffffff)) throw new RangeError(`a chunk of ${size} bytes is larger than a chunk table holds`);
    // Grown only for a new hash: a table filled to the count it expected (an add's 400,000 chunks) and
    // then asked for one of them again doubled to no purpose (~19 MB).
    if (this.n === this.sizes.length) {
      this.grow(this.n * 2);
      slot = this.findProbe();
    }
    const id = this.n++;
    this.words.set(this.probe, id * 8);
    this.sizes[id] = size;
    this.slots[slot] = id + 1;
    return id;
  }

  /** The hash's id, or -1 when the table does not hold it. */
  idOf(hash: string): number {
    this.parse(hash);
    return this.slots[this.findProbe()]! - 1;
  }

  has(hash: string): boolean {
    return this.idOf(hash) >= 0;
  }

  /** The id of a hash given as its 32 raw bytes, or -1 when the table does not hold it. */
  idOfRaw(raw: Uint8Array): number {
    this.probeBytes.set(raw.subarray(0, 32));
    return this.slots[this.findProbe()]! - 1;
  }

  /** The id here of chunk `id` of another table, or -1: compared as bytes, with no string made. */
  idOfEntry(other: ChunkTable, id: number): number {
    this.probe.set(other.words.subarray(id * 8, id * 8 + 8));
    return this.slots[this.findProbe()]! - 1;
  }

  /** Every hash, in id order. */
  *[Symbol.iterator](): Generator<string> {
    for (let id = 0; id < this.n; id++) yield this.hashOf(id);
  }

  /** The sum of every chunk's size. */
  totalSize(): number {
    let n = 0;
    for (let id = 0; id < this.n; id++) n += this.sizes[id]!;
    return n;
  }

  /** The hash of `id`, as lowercase hex (a new string each call). */
  hashOf(id: number): string {
    return this.bytes.toString('hex', id * 32, id * 32 + 32);
  }

  /** hashOf, and the hash's bytes (a view): the table holds decoded manifests' one-chunk hashes (manifest.ts). */
  hexAt(id: number): string {
    return this.hashOf(id);
  }

  rawAt(id: number): Buffer {
    return this.bytes.subarray(id * 32, id * 32 + 32);
  }

  sizeOf(id: number): number {
    return this.sizes[id]!;
  }

  /** The first byte of `id`'s hash: the store's directory for it (objects/ab/...). */
  firstByte(id: number): number {
    return this.bytes[id * 32]!;
  }

  /** Puts the bytes of a hex hash in `probe`. */
  private parse(hash: string): void {
    if (hash.length !== 64 || this.probeBytes.write(hash, 0, 32, 'hex') !== 32) throw new Error(`not a chunk hash: ${hash.slice(0, 80)}`);
  }

  /** The slot holding the hash in `probe`, or the empty one where it would go. */
  private findProbe(): number {
    const p = this.probe;
    const mask = this.slots.length - 1;
    // BLAKE3 output is uniform, so its first word is a good enough hash.
    for (let s = p[0]! & mask; ; s = (s + 1) & mask) {
      const held = this.slots[s]!;
      if (held === 0) return s;
      const at = (held - 1) * 8;
      const w = this.words;
      if (w[at] === p[0] && w[at + 1] === p[1] && w[at + 2] === p[2] && w[at + 3] === p[3] && w[at + 4] === p[4] && w[at + 5] === p[5] && w[at + 6] === p[6] && w[at + 7] === p[7]) return s;
    }
  }

  private grow(cap: number): void {
    const words = new Uint32Array(cap * 8);
    words.set(this.words.subarray(0, this.n * 8));
    const sizes = new Uint32Array(cap);
    sizes.set(this.sizes.subarray(0, this.n));
    this.words = words;
    this.bytes = Buffer.from(words.buffer);
    this.sizes = sizes;
    const slots = new Int32Array(slotsFor(cap));
    const mask = slots.length - 1;
    for (let id = 0; id < this.n; id++) {
      let s = words[id * 8]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = id + 1;
    }
    this.slots = slots;
  }
}

/** A power of two at least twice `cap`: the table is at most half full. */
function slotsFor(cap: number): number {
  let n = 32;
  while (n < cap * 2) n *= 2;
  return n;
}

/** A list of unsigned 32-bit numbers that grows as it is pushed to: 4 bytes an item, not a JS array's 8. */
export class Uint32List {
  private items: Uint32Array;
  length = 0;

  constructor(expected = 64) {
    this.items = new Uint32Array(Math.max(16, expected));
  }

  push(v: number): void {
    if (this.length === this.items.length) {
      const more = new Uint32Array(this.items.length * 2);
      more.set(this.items);
      this.items = more;
    }
    this.items[this.length++] = v;
  }

  at(i: number): number {
    return this.items[i]!;
  }
}
