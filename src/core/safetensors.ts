// Reading the tensor table of a safetensors file straight from the object store: an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}}, then the data. Each
// tensor's bytes are hashed so two versions can be compared tensor by tensor without writing either file.

import { IntegrityError } from '../errors.js';
import { createHasher } from './hash.js';
import type { ManifestFile } from './manifest.js';
import type { ObjectStore } from './store.js';

export interface TensorDigest {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  hash: string;
}

const MAX_HEADER = 100 << 20;

export function isSafetensors(p: string): boolean {
  return p.endsWith('.safetensors');
}

/** Calls visit(offset, bytes) for each chunk of the file in order. */
async function* chunksOf(store: ObjectStore, file: ManifestFile): AsyncGenerator<{ offset: number; data: Buffer }> {
  let offset = 0;
  for (const h of file.chunks) {
    const data = await store.get('chunk', h);
    yield { offset, data };
    offset += data.length;
  }
}

export async function tensorDigests(store: ObjectStore, file: ManifestFile): Promise<TensorDigest[]> {
  const bad = (why: string): never => {
    throw new IntegrityError(`${file.path} is not a valid safetensors file: ${why}`);
  };
  // Header first (it is small and at the start), then one pass over the data.
  let head = Buffer.alloc(0);
  for await (const c of chunksOf(store, file)) {
    head = Buffer.concat([head, c.data]);
    if (head.length >= 8 && head.length >= 8 + Number(head.readBigUInt64LE(0))) break;
    if (head.length > MAX_HEADER + 8) break;
  }
  if (head.length < 8) bad('shorter than 8 bytes');
  const n = Number(head.readBigUInt64LE(0));
  if (n > MAX_HEADER || head.length < 8 + n) bad('header length out of range');
  let header: Record<string, any>;
  try {
    header = JSON.parse(head.subarray(8, 8 + n).toString('utf8'));
  } catch {
    return bad('header is not JSON');
  }
  const base = 8 + n;
  const tensors = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => {
      const [b, e] = Array.isArray(t?.data_offsets) ? t.data_offsets : bad(`tensor ${name} has no data_offsets`);
      if (!(Number.isSafeInteger(b) && Number.isSafeInteger(e) && 0 <= b && b <= e && base + e <= file.size)) bad(`tensor ${name} has invalid data_offsets`);
      return { name, dtype: String(t.dtype), shape: Array.isArray(t.shape) ? t.shape : [], begin: base + b, end: base + e, hasher: createHasher() };
    })
    .sort((x, y) => x.begin - y.begin);
  for await (const c of chunksOf(store, file)) {
    const cEnd = c.offset + c.data.length;
    for (const t of tensors) {
      if (t.end <= c.offset || t.begin >= cEnd) continue;
      t.hasher.update(c.data.subarray(Math.max(t.begin, c.offset) - c.offset, Math.min(t.end, cEnd) - c.offset));
    }
  }
  return tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin, hash: t.hasher.digest() }));
}
