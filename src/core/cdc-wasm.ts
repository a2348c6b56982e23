// The candidate scan of the parallel FastCDC path (src/core/cdc-worker.ts) as a hand-written WebAssembly
// module, like src/core/gear-wasm.ts (read that first: same encoding helpers, each group commented with
// its WAT). Unlike the cut loop it never stops at a hit: every position where (h & mask) == 0 is written
// to an output area with its hash (~1.45x the cut loop per CPU-second on this machine, measured with the
// same input, 1400 against 1000 MB/cpu-s). Because the window hash needs no chunk start, the module can
// also roll several lanes (equal parts of the 64 KiB window) in one loop, to overlap their hash chains;
// measured, 2 lanes gave no gain and 4 or 8 lost (~640, ~510 MB/cpu-s: V8 spills), so 1 is the default
// and CKPTSYNC_CDC_LANES=n exists only for measuring.
//
// Linear memory: GEAR at 0; STATE (per lane: hash at +4j, output pointer at +64+4j) at 1024; DATA, the
// window, at 65536 (lane j reads DATA + j * LANE ...); lane j's output (pos, hash) i32 pairs at OUT + j * OUT_BYTES.

import { s32, section, name, u32 } from './gear-wasm.js';

const STATE = 1024;
const DATA = 65536;
/** Lanes rolled together by the wide function (the narrow one rolls one, for a region's last bytes). */
export const LANES = Math.min(8, Number(process.env.CKPTSYNC_CDC_LANES) || 1);
/** Bytes one lane covers per call: a call with all lanes scans LANES * LANE bytes. */
export const LANE = 65536 / LANES;
const OUT = DATA + 65536;
/** A hit at every byte fits: 8 bytes per position. */
const OUT_BYTES = 8 * LANE;
const UNROLL = 4;

/** Body of lanes(p, end, mask, h0..h{n-1}): lane j rolls over [p + j * LANE, end + j * LANE). */
function lanesBody(lanes: number): number[] {
  const P = 0;
  const END = 1;
  const MASK = 2;
  const H = (j: number) => 3 + j;
  const O = (j: number) => 3 + lanes + j;
  const step = (j: number, k: number) => {
    const off = j * LANE + k;
    return [
      0x20, H(j), 0x41, 1, 0x74, //                  (i32.shl (local.get $h_j) (i32.const 1))
      0x20, P, 0x2d, 0, ...u32(off), //              (i32.load8_u offset=off (local.get $p))
      0x41, 2, 0x74, 0x28, 2, 0, //                  (i32.load (i32.shl ... (i32.const 2)))   ;; GEAR[byte]
      0x6a, 0x22, H(j), //                           (local.tee $h_j (i32.add ...))
      0x20, MASK, 0x71, 0x45, 0x04, 0x40, //         (if (i32.eqz (i32.and ... (local.get $mask)))
      0x20, O(j), 0x20, P, 0x41, ...s32(off), 0x6a, 0x36, 2, 0, //  (i32.store (local.get $o_j) (i32.add (local.get $p) (i32.const off)))
      0x20, O(j), 0x20, H(j), 0x36, 2, 4, //         (i32.store offset=4 (local.get $o_j) (local.get $h_j))
      0x20, O(j), 0x41, 8, 0x6a, 0x21, O(j), //      (local.set $o_j (i32.add (local.get $o_j) (i32.const 8)))
      0x0b, //                                      )
    ];
  };
  const all = (k: number) => Array.from({ length: lanes }, (_, j) => step(j, k)).flat();
  const advance = (k: number) => [0x20, P, 0x41, ...s32(k), 0x6a, 0x21, P];
  const init = Array.from({ length: lanes }, (_, j) => [0x41, ...s32(OUT + j * OUT_BYTES), 0x21, O(j)]).flat(); // $o_j = OUT_j
  const save = Array.from({ length: lanes }, (_, j) => [
    0x41, ...s32(STATE), 0x20, H(j), 0x36, 2, ...u32(4 * j), //      (i32.store offset=4j (i32.const STATE) (local.get $h_j))
    0x41, ...s32(STATE), 0x20, O(j), 0x36, 2, ...u32(64 + 4 * j), // (i32.store offset=64+4j (i32.const STATE) (local.get $o_j))
  ]).flat();
  return [
    1, lanes, 0x7f, //                               (local $o_j i32) per lane
    ...init,
    0x02, 0x40, 0x03, 0x40, //                       (block $tail (loop $unrolled
    0x20, P, 0x41, ...s32(UNROLL), 0x6a, 0x20, END, 0x4b, 0x0d, 1, // (br_if $tail (i32.gt_u (i32.add $p UNROLL) $end))
    ...Array.from({ length: UNROLL }, (_, k) => all(k)).flat(),
    ...advance(UNROLL),
    0x0c, 0, 0x0b, 0x0b, //                          (br $unrolled)))
    0x02, 0x40, 0x03, 0x40, //                       (block $done (loop $bytes
    0x20, P, 0x20, END, 0x4f, 0x0d, 1, //            (br_if $done (i32.ge_u $p $end))
    ...all(0),
    ...advance(1),
    0x0c, 0, 0x0b, 0x0b, //                          (br $bytes)))
    ...save,
    0x0b,
  ];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const f1 = lanesBody(1);
  const f2 = lanesBody(LANES);
  const pages = (OUT + LANES * OUT_BYTES) / 65536;
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // (type $one (func (param i32 i32 i32 i32))) (type $two (func (param i32 i32 i32 i32 i32)))
    // (type $one (func (param i32 i32 i32 i32))) (type $wide (func (param i32 i32 i32 i32 ... one hash per lane)))
    ...section(1, [2, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0, 0x60, 3 + LANES, ...Array(3 + LANES).fill(0x7f), 0]),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0x00, ...u32(pages)]),
    // (export "memory") (export "one" (func 0)) (export "two" (func 1))
    ...section(7, [3, ...name('memory'), 0x02, 0, ...name('one'), 0x00, 0, ...name('two'), 0x00, 1]),
    ...section(10, [2, ...u32(f1.length), ...f1, ...u32(f2.length), ...f2]),
  ]);
}

/** Reports every position of a region whose window hash satisfies a mask. */
export interface CandidateScanner {
  /**
   * Rolls the gear hash over buf[from, to), starting from h (the hash of the bytes before `from`), and
   * calls hit(i, hash) for every i where (hash & mask) == 0, in order. `warm(at)` must return the hash
   * after buf[at - 1] as a scan from the region's start would have it (lane 2 starts mid-window).
   */
  scan(buf: Uint8Array, from: number, to: number, mask: number, h: number, warm: (at: number) => number, hit: (i: number, hash: number) => void): void;
}

/** The two-lane scanner, or null where WebAssembly cannot load. */
export function loadCandidateScanner(gear: Uint32Array): CandidateScanner | null {
  if (typeof WebAssembly !== 'object' || process.env.CKPTSYNC_CDC === 'js') return null;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()));
  } catch {
    return null;
  }
  const { memory, one, two } = instance.exports as {
    memory: WebAssembly.Memory;
    one: (p: number, end: number, mask: number, h: number) => void;
    two: (p: number, end: number, mask: number, ...h: number[]) => void;
  };
  const mem = new Uint8Array(memory.buffer);
  const words = new Int32Array(memory.buffer);
  words.set(gear, 0);
  const S = STATE >> 2;
  const drain = (lane: number, base: number, hit: (i: number, hash: number) => void) => {
    for (let w = (OUT + lane * OUT_BYTES) >> 2, e = words[S + 16 + lane]! >> 2; w < e; w += 2) hit(base + words[w]! - DATA, words[w + 1]!);
  };
  return {
    scan(buf, from, to, mask, h, warm, hit) {
      let i = from;
      const hs = new Array<number>(LANES);
      for (; to - i >= LANES * LANE; i += LANES * LANE) {
        mem.set(buf.subarray(i, i + LANES * LANE), DATA);
        hs[0] = h;
        for (let j = 1; j < LANES; j++) hs[j] = warm(i + j * LANE);
        two(DATA, DATA + LANE, mask, ...hs);
        for (let j = 0; j < LANES; j++) drain(j, i, hit);
        h = words[S + LANES - 1]!;
      }
      if (i < to) {
        mem.set(buf.subarray(i, to), DATA);
        one(DATA, DATA + (to - i), mask, h);
        drain(0, i, hit);
      }
    },
  };
}
