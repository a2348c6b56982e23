// Tensor-aware cutters for PyTorch zip (§2.3) and GGUF (§2.4): cuts at tensor starts, fixed sizes from
// each tensor's start, unchanged tensors deduplicated across versions, fallback to FastCDC otherwise.

import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PYTORCH_ZIP_CHUNKER, FASTCDC_ALG, GGUF_ALG, PYTORCH_ZIP_ALG } from '../../src/core/chunker.js';
import { ggufLayout } from '../../src/core/cutters/gguf.js';
import { pytorchZipLayout } from '../../src/core/cutters/pytorch-zip.js';
import { segmentCuts } from '../../src/core/cutters/segments.js';
import { ingestPath } from '../../src/core/ingest.js';
import { ObjectStore } from '../../src/core/store.js';
import { tensorBytes, type TensorSpec } from '../../fixtures/generate.js';
import { writePytorchZip } from '../../fixtures/pytorch-zip.js';

const tensors: TensorSpec[] = [
  { name: 'embed', dtype: 'BF16', shape: [512, 1024] }, // 1 MiB
  { name: 'norm', dtype: 'F32', shape: [256] }, // small: grouped
  { name: 'q', dtype: 'BF16', shape: [1024, 1536] }, // 3 MiB
  { name: 'v', dtype: 'BF16', shape: [1024, 1280] }, // 2.5 MiB
  { name: 'mlp', dtype: 'BF16', shape: [1024, 2560] }, // 5 MiB
];

async function tmpdir(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-cutters-'));
  t.teardown(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

/** Absolute offsets where chunks start. */
function boundaries(sizes: readonly number[]): Set<number> {
  const out = new Set<number>();
  let pos = 0;
  for (const s of sizes) {
    out.add(pos);
    pos += s;
  }
  out.add(pos);
  return out;
}

test('pytorch-zip › every large tensor record starts a chunk and is cut every avg bytes from its data start', async (t) => {
  const dir = await tmpdir(t);
  const file = path.join(dir, 'model.pt');
  await writePytorchZip(file, { tensors });
  const size = (await fs.stat(file)).size;
  const layout = await pytorchZipLayout(file, size);
  t.truthy(layout);
  const r = await ingestPath(new ObjectStore(path.join(dir, 'store')), file);
  const entry = r.manifest.files.at(0)!;
  t.is(entry.chunker.alg, PYTORCH_ZIP_ALG);
  t.true(entry.sizes.every((s) => s <= DEFAULT_PYTORCH_ZIP_CHUNKER.max));
  const cuts = boundaries(entry.sizes);
  const large = layout!.filter((s) => s.end - s.anchor >= DEFAULT_PYTORCH_ZIP_CHUNKER.min);
  t.is(large.length, 4);
  for (const seg of large) {
    t.true(cuts.has(seg.start), `record at ${seg.start} starts a chunk`);
    for (let c = seg.anchor + DEFAULT_PYTORCH_ZIP_CHUNKER.avg; c < seg.end; c += DEFAULT_PYTORCH_ZIP_CHUNKER.avg) t.true(cuts.has(c));
    t.is(seg.anchor % 64, 0, 'torch aligns record data to 64 bytes');
  }
});

test('pytorch-zip › a second version with one tensor rewritten stores only that tensor (and its record header)', async (t) => {
  const dir = await tmpdir(t);
  const store = new ObjectStore(path.join(dir, 'store'));
  await writePytorchZip(path.join(dir, 'a', 'model.pt'), { tensors });
  await writePytorchZip(path.join(dir, 'b', 'model.pt'), { tensors, versionOf: (x) => (x.name === 'v' ? 2 : 1) });
  await ingestPath(store, path.join(dir, 'a', 'model.pt'));
  const r = await ingestPath(store, path.join(dir, 'b', 'model.pt'));
  const changed = tensorBytes(tensors[3]!);
  t.true(r.bytesNew >= changed);
  t.true(r.bytesNew < changed + 4096, `new bytes ${r.bytesNew} for a ${changed}-byte tensor`);
});

test('pytorch-zip › a zip with a compressed record is cut with FastCDC', async (t) => {
  const dir = await tmpdir(t);
  const file = path.join(dir, 'model.pt');
  await writePytorchZip(file, { tensors: tensors.slice(0, 2) });
  const buf = await fs.readFile(file);
  buf.writeUInt16LE(8, 8); // local header of data.pkl: deflate
  const cd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), buf.length - 22);
  const first = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  t.true(first > 0 && cd >= first);
  buf.writeUInt16LE(8, first + 10); // and its central directory entry
  await fs.writeFile(file, buf);
  t.is(await pytorchZipLayout(file, buf.length), null);
  const r = await ingestPath(new ObjectStore(path.join(dir, 'store')), file);
  t.is(r.manifest.files.at(0)!.chunker.alg, FASTCDC_ALG);
});

/** A minimal GGUF v3 file: metadata (with a string array and general.alignment), tensor infos, aligned data. */
function gguf(tensorSizes: number[], fill: (i: number) => number, alignment = 64): { bytes: Buffer; starts: number[] } {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensorSizes.length);
  u64(2);
  str('tokenizer.ggml.tokens'); u32(9); u32(8); u64(3); str('<s>'); str('</s>'); str('hello');
  str('general.alignment'); u32(4); u32(alignment);
  let off = 0;
  const offsets: number[] = [];
  for (const [i, n] of tensorSizes.entries()) {
    str(`blk.${i}.weight`); u32(1); u64(n); u32(0); u64(off);
    offsets.push(off);
    off += Math.ceil(n / alignment) * alignment;
  }
  let header = Buffer.concat(parts);
  const dataStart = Math.ceil(header.length / alignment) * alignment;
  header = Buffer.concat([header, Buffer.alloc(dataStart - header.length)]);
  const data = Buffer.alloc(off);
  for (const [i, n] of tensorSizes.entries()) {
    for (let j = 0; j < n; j += 4) data.writeUInt32LE((Math.imul(j + 1, 2654435761) ^ fill(i)) >>> 0, offsets[i]! + j);
  }
  return { bytes: Buffer.concat([header, data]), starts: offsets.map((o) => dataStart + o) };
}

test('gguf › chunks start at every tensor and changing one tensor leaves the others deduplicated', async (t) => {
  const dir = await tmpdir(t);
  const sizes = [3 << 20, 100_000, 1 << 20, (2 << 20) + 4, 16];
  const a = gguf(sizes, () => 0);
  const b = gguf(sizes, (i) => (i === 2 ? 7 : 0));
  await fs.writeFile(path.join(dir, 'a.gguf'), a.bytes);
  await fs.writeFile(path.join(dir, 'b.gguf'), b.bytes);
  const layout = await ggufLayout(path.join(dir, 'a.gguf'), a.bytes.length);
  t.truthy(layout);
  const store = new ObjectStore(path.join(dir, 'store'));
  const ra = await ingestPath(store, path.join(dir, 'a.gguf'));
  t.is(ra.manifest.files.at(0)!.chunker.alg, GGUF_ALG);
  const cuts = boundaries(ra.manifest.files.at(0)!.sizes);
  for (const [i, s] of a.starts.entries()) if (sizes[i]! >= 65536) t.true(cuts.has(s), `tensor ${i} starts a chunk`);
  const rb = await ingestPath(store, path.join(dir, 'b.gguf'));
  t.is(rb.bytesNew, 1 << 20);
});

test('gguf › a file with a bad magic or an unknown value type is cut with FastCDC', async (t) => {
  const dir = await tmpdir(t);
  const a = gguf([1 << 20], () => 0);
  a.bytes.write('GGUX', 0);
  await fs.writeFile(path.join(dir, 'x.gguf'), a.bytes);
  t.is(await ggufLayout(path.join(dir, 'x.gguf'), a.bytes.length), null);
  const b = gguf([1 << 20], () => 0);
  b.bytes.writeUInt32LE(99, 4 + 4 + 8 + 8 + 8 + 'tokenizer.ggml.tokens'.length);
  await fs.writeFile(path.join(dir, 'y.gguf'), b.bytes);
  t.is(await ggufLayout(path.join(dir, 'y.gguf'), b.bytes.length), null);
  const r = await ingestPath(new ObjectStore(path.join(dir, 'store')), path.join(dir, 'y.gguf'));
  t.is(r.manifest.files.at(0)!.chunker.alg, FASTCDC_ALG);
});

test('segments › a long record header stands alone so no chunk exceeds max', (t) => {
  const p = DEFAULT_PYTORCH_ZIP_CHUNKER;
  const lengths = segmentCuts([{ start: 0, end: 200_000 + 3 * p.avg, anchor: 200_000 }], p);
  t.deepEqual(lengths, [200_000, p.avg, p.avg, p.avg]);
  t.true(lengths.every((n) => n <= p.max));
});
