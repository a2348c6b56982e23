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

/** A tensor of a safetensors header, its bytes at [begin, end) of the file. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Where the data starts: 8 + the header's length. */
  dataStart: number;
  /** The header's `__metadata__`, if any (string to string, by the format). */
  metadata?: Record<string, string>;
  /** In file order. */
  tensors: TensorEntry[];
}

/** How many bytes from the start of the file hold the header, from its first 8; throws if out of range. */
export function headerBytes(first8: Buffer, what: string): number {
  if (first8.length < 8) throw notSafetensors(what, 'shorter than 8 bytes');
  const n = Number(first8.readBigUInt64LE(0));
  if (n > MAX_HEADER) throw notSafetensors(what, 'header length out of range');
  return 8 + n;
}

/** Parses the header from the file's first headerBytes() bytes; every tensor must lie inside fileSize. */
export function parseHeader(head: Buffer, fileSize: number, what: string): SafetensorsHeader {
  const dataStart = headerBytes(head, what);
  if (head.length < dataStart || dataStart > fileSize) throw notSafetensors(what, 'header length out of range');
  let header: Record<string, any>;
  try {
    header = JSON.parse(head.subarray(8, dataStart).toString('utf8'));
  } catch {
    throw notSafetensors(what, 'header is not JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw notSafetensors(what, 'header is not a JSON object');
  const tensors = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, t]) => {
      const [b, e] = Array.isArray(t?.data_offsets) ? t.data_offsets : [NaN, NaN];
      if (!(Number.isSafeInteger(b) && Number.isSafeInteger(e) && 0 <= b && b <= e && dataStart + e <= fileSize)) throw notSafetensors(what, `tensor ${name} has invalid data_offsets`);
      return { name, dtype: String(t.dtype), shape: Array.isArray(t.shape) ? t.shape : [], begin: dataStart + b, end: dataStart + e };
    })
    .sort((x, y) => x.begin - y.begin);
  return { dataStart, metadata: header.__metadata__, tensors };
}

function notSafetensors(what: string, why: string): IntegrityError {
  return new IntegrityError(`${what} is not a valid safetensors file: ${why}`);
}

export async function tensorDigests(store: ObjectStore, file: ManifestFile): Promise<TensorDigest[]> {
  // Header first (it is small and at the start), then one pass over the data.
  let head = Buffer.alloc(0);
  for await (const c of chunksOf(store, file)) {
    head = Buffer.concat([head, c.data]);
    if (head.length >= 8 && head.length >= headerBytes(head, file.path)) break;
  }
  const tensors = parseHeader(head, file.size, file.path).tensors.map((t) => ({ ...t, hasher: createHasher() }));
  for await (const c of chunksOf(store, file)) {
    const cEnd = c.offset + c.data.length;
    for (const t of tensors) {
      if (t.end <= c.offset || t.begin >= cEnd) continue;
      t.hasher.update(c.data.subarray(Math.max(t.begin, c.offset) - c.offset, Math.min(t.end, cEnd) - c.offset));
    }
  }
  return tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin, hash: t.hasher.digest() }));
}
