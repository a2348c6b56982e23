// The FastCDC gear loop (manifest-spec.md §2.1, step 2) as a hand-written WebAssembly kernel: V8 runs it
// ~3x faster than the same loop in JavaScript (no bounds checks, the hash stays in a register). No
// toolchain: the module's bytes are spelled out below, each group commented with its WAT. Cut points
// are defined by the rule, not by this code; test/core/gear-kernel.test.ts checks it against the JS scan.
//
// Linear memory: GEAR (256 little-endian u32) at 0, the rolled hash left by a scan without a cut at
// HASH_AT, and a DATA window of BLOCK bytes at DATA_AT into which each piece of input is copied (a
// memcpy costs ~0.1 ns/byte against ~0.4 for the loop, and input buffers cannot live in wasm memory:
// growing it would detach every view a consumer still holds).

const DATA_AT = 65536;
/** How much input one call into the module rolls over (tests cross this boundary). */
export const GEAR_WASM_BLOCK = 65536;
const HASH_AT = 1024;
/** Bytes rolled per trip of the unrolled loop; the rest go one at a time. */
const UNROLL = 4;

/** Unsigned LEB128. */
export function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function s32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

export const section = (id: number, payload: number[]) => [id, ...u32(payload.length), ...payload];
export const name = (s: string) => [...u32(s.length), ...Buffer.from(s, 'latin1')];

// Locals: the four parameters of scan(p, end, mask, h).
const P = 0;
const END = 1;
const MASK = 2;
const H = 3;

/** One byte: roll the hash with the byte at p + k; return p + k if (h & mask) == 0. */
function step(k: number): number[] {
  return [
    0x20, H, 0x41, 1, 0x74, //                 (i32.shl (local.get $h) (i32.const 1))
    0x20, P, 0x2d, 0, ...u32(k), //            (i32.load8_u offset=k (local.get $p))
    0x41, 2, 0x74, //                          (i32.shl ... (i32.const 2))        ;; GEAR index -> address
    0x28, 2, 0, //                             (i32.load offset=0 ...)            ;; GEAR[byte]
    0x6a, 0x22, H, //                          (local.tee $h (i32.add ...))
    0x20, MASK, 0x71, 0x45, //                 (i32.eqz (i32.and ... (local.get $mask)))
    0x04, 0x40, //                             (if
    0x20, P, 0x41, ...s32(k), 0x6a, 0x0f, //     (return (i32.add (local.get $p) (i32.const k)))
    0x0b, //                                   )
  ];
}

/** p += k */
const advance = (k: number) => [0x20, P, 0x41, ...s32(k), 0x6a, 0x21, P];

/** The module, with room for `block` bytes of input. */
function moduleBytes(block: number, unroll: number): Uint8Array<ArrayBuffer> {
  const body = [
    0x00, //                                     no locals beyond the parameters
    0x02, 0x40, //                               (block $tail
    0x03, 0x40, //                                 (loop $unrolled
    0x20, P, 0x41, ...s32(unroll), 0x6a, //          (i32.add (local.get $p) (i32.const UNROLL))
    0x20, END, 0x4b, 0x0d, 1, //                     (br_if $tail (i32.gt_u ... (local.get $end)))
    ...Array.from({ length: unroll }, (_, k) => step(k)).flat(),
    ...advance(unroll),
    0x0c, 0, //                                      (br $unrolled)
    0x0b, 0x0b, //                               ))
    0x02, 0x40, //                               (block $done
    0x03, 0x40, //                                 (loop $bytes
    0x20, P, 0x20, END, 0x4f, 0x0d, 1, //            (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
    ...step(0),
    ...advance(1),
    0x0c, 0, //                                      (br $bytes)
    0x0b, 0x0b, //                               ))
    0x41, ...s32(HASH_AT), 0x20, H, 0x36, 2, 0, // (i32.store (i32.const HASH_AT) (local.get $h))
    0x41, 0x7f, //                               (i32.const -1)
    0x0b, //                                     end
  ];

  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    // (type (func (param i32 i32 i32 i32) (result i32)))
    ...section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]),
    // (func $scan (type 0))
    ...section(3, [1, 0]),
    // (memory 1 + BLOCK / 64 KiB)   ;; no maximum: never grown
    ...section(5, [1, 0x00, ...u32(DATA_AT / 65536 + Math.ceil(block / 65536))]),
    // (export "memory" (memory 0)) (export "scan" (func $scan))
    ...section(7, [2, ...name('memory'), 0x02, 0, ...name('scan'), 0x00, 0]),
    // (code: one body)
    ...section(10, [1, ...u32(body.length), ...body]),
  ]);
}

export interface GearKernel {
  /**
   * Rolls the gear hash from h over buf[from, to); returns the first index i where (hash & mask) == 0,
   * or -1, leaving the hash in `hash`. The same contract as the JavaScript scan in chunker.ts.
   */
  scan(buf: Uint8Array, from: number, to: number, mask: number, h: number): number;
  /** The hash after the last scan that found no cut. */
  hash: number;
}

/** The kernel with `gear` in its memory, or null where WebAssembly is unavailable. */
export function loadGearKernel(gear: Uint32Array, block = GEAR_WASM_BLOCK, unroll = UNROLL): GearKernel | null {
  if (typeof WebAssembly !== 'object' || process.env.CKPTSYNC_CDC === 'js') return null;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(block, unroll)));
  } catch {
    return null; // e.g. a runtime that forbids code generation
  }
  const { memory, scan: run } = instance.exports as { memory: WebAssembly.Memory; scan: (p: number, end: number, mask: number, h: number) => number };
  const mem = new Uint8Array(memory.buffer);
  new Uint32Array(memory.buffer, 0, 256).set(gear); // wasm memory is little-endian, as GEAR is defined
  const hashSlot = new Int32Array(memory.buffer, HASH_AT, 1);
  const kernel: GearKernel = {
    hash: 0,
    scan(buf, from, to, mask, h) {
      for (let i = from; i < to; ) {
        const n = Math.min(block, to - i);
        mem.set(buf.subarray(i, i + n), DATA_AT);
        const at = run(DATA_AT, DATA_AT + n, mask, h);
        if (at >= 0) return i + (at - DATA_AT);
        h = hashSlot[0]!;
        i += n;
      }
      kernel.hash = h;
      return -1;
    },
  };
  return kernel;
}
