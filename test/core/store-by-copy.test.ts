// The addon's path into the local store (src/core/store-by-copy.ts, src/native/store-chunk.c): exact
// ranges, BLAKE3 as its official vectors say, the bytes stored are the bytes hashed, duplicates stored
// once, and a file that changes while it is added fails the add without leaving a temp or a wrong
// object behind. Pulls land downloaded chunks (landChunk) and checkouts write stored ones
// (writeChunkTo) through the same job.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { hashBytes } from '../../src/core/hash.js';
import { ingestPath } from '../../src/core/ingest.js';
import { ObjectWriter } from '../../src/core/object-writer.js';
import { storeByCopy, storeRanges, type CopiedChunk } from '../../src/core/store-by-copy.js';
import { DEFAULT_CHUNKER, chunkFile } from '../../src/core/chunker.js';
import { IntegrityError, NotFoundError } from '../../src/errors.js';
import { StoreChunkError, hashChunk, landChunk, nativeStore, readChunk, storeChunk } from '../../src/core/store-chunk.js';
import { BufferPool } from '../../src/core/buffer-pool.js';
import { ObjectStore, TMP_MARK } from '../../src/core/store.js';
import { largeTensor, writeSafetensors } from '../../fixtures/generate.js';
import { findFiles, tempDir } from '../helpers.js';
import { VECTORS, input } from './blake3-vectors.js';

async function dir(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const d = await tempDir('ckpt-copy-');
  t.teardown(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

/** Every chunk in the store, by hash: its bytes. */
async function storedObjects(store: ObjectStore): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const h of store.list('chunk')) out.set(h, await fs.readFile(store.pathOf('chunk', h)));
  return out;
}

test('store-chunk › a failure names its errno and the file it was reading or writing, worded as Node words system errors', async (t) => {
  const d = await dir(t);
  const bad = await t.throwsAsync(storeChunk(987654, 0, 3, path.join(d, 'x'), 'model.safetensors'), { instanceOf: StoreChunkError });
  t.is(bad?.code, 'EBADF');
  t.is(bad?.message, 'EBADF: bad file descriptor, reading model.safetensors');
  const hashing = await t.throwsAsync(hashChunk(987654, 0, 3, 'model.safetensors'), { instanceOf: StoreChunkError });
  t.is(hashing?.message, 'EBADF: bad file descriptor, reading model.safetensors');
  // The new file cannot be made: its directory is missing.
  await fs.writeFile(path.join(d, 'src'), 'abc');
  const src = await fs.open(path.join(d, 'src'), 'r');
  try {
    const missing = path.join(d, 'no-such-dir', 'x');
    const e = await t.throwsAsync(storeChunk(src.fd, 0, 3, missing, 'src'), { instanceOf: StoreChunkError });
    t.is(e?.message, `ENOENT: no such file or directory, writing ${missing}`);
  } finally {
    await src.close();
  }
});

test('store-chunk › creates the file, fills it with the range and returns the BLAKE3 of what it wrote', async (t) => {
  // scripts/deps.d/native.sh installs a C compiler for the test command; without one the build says
  // so and ckptsync falls back, but this suite must then fail rather than pass on the fallback alone.
  t.true(nativeStore, 'dist/native/store-chunk.node was not built or did not load');
  const d = await dir(t);
  const data = crypto.randomBytes(3 << 20);
  await fs.writeFile(path.join(d, 'src'), data);
  const src = await fs.open(path.join(d, 'src'), 'r');
  try {
    // Ranges around the addon's 256 KiB pieces and BLAKE3's 1 KiB chunks.
    for (const [off, len] of [[1000, 1 << 20], [0, (256 << 10) + 1], [7, (256 << 10) - 1], [5, 1025], [0, 0]] as const) {
      const at = path.join(d, `r-${off}-${len}`);
      const range = data.subarray(off, off + len);
      t.deepEqual(await storeChunk(src.fd, off, len, at), { bytes: len, hash: hashBytes(range) }, `${len} bytes at ${off}`);
      t.true((await fs.readFile(at)).equals(range));
    }
    // Never over an existing file (the temp names are unique; a clash is a bug, not something to clobber).
    const e = await t.throwsAsync(storeChunk(src.fd, 0, 10, path.join(d, 'r-5-1025')), { instanceOf: StoreChunkError });
    t.is(e?.code, 'EEXIST');
    t.true((await fs.readFile(path.join(d, 'r-5-1025'))).equals(data.subarray(5, 1030)), 'the existing file is untouched');
    // Past the end of the input: a short count, and the file and the hash hold just that.
    t.deepEqual(await storeChunk(src.fd, data.length - 10, 100, path.join(d, 'b')), { bytes: 10, hash: hashBytes(data.subarray(-10)) });
    t.is((await fs.stat(path.join(d, 'b'))).size, 10);
    // Hashing alone: the same hash, and no file.
    const before = (await fs.readdir(d)).length;
    t.deepEqual(await hashChunk(src.fd, 1000, 1 << 20), { bytes: 1 << 20, hash: hashBytes(data.subarray(1000, 1000 + (1 << 20))) });
    t.deepEqual(await hashChunk(src.fd, data.length - 10, 100), { bytes: 10, hash: hashBytes(data.subarray(-10)) });
    t.is((await fs.readdir(d)).length, before);
    await t.throwsAsync(storeChunk(src.fd, 0, 1, ''), { instanceOf: TypeError });
    await t.throwsAsync(storeChunk(src.fd, -1, 1, path.join(d, 'c')), { instanceOf: TypeError, message: /non-negative integers/ });
    await t.throwsAsync(storeChunk(src.fd, 0.5, 1, path.join(d, 'c')), { instanceOf: TypeError });
  } finally {
    await src.close();
  }
});

test("store-chunk › hashes match BLAKE3's official test vectors", async (t) => {
  const d = await dir(t);
  const longest = Math.max(...VECTORS.map(([n]) => n));
  await fs.writeFile(path.join(d, 'input'), input(longest));
  const src = await fs.open(path.join(d, 'input'), 'r');
  try {
    for (const [len, want] of VECTORS) t.is((await storeChunk(src.fd, 0, len, path.join(d, `v${len}`))).hash, want, `input_len ${len}`);
  } finally {
    await src.close();
  }
});

test('land-chunk › hashes buffers in memory as it writes them to a new file and at an offset of another, BLAKE3 as its vectors say', async (t) => {
  const d = await dir(t);
  const out = await fs.open(path.join(d, 'target'), 'w+');
  try {
    // Pieces as they come off a network (uneven, some empty, some longer than the addon's 256 KiB).
    const data = crypto.randomBytes((600 << 10) + 3);
    const parts = [data.subarray(0, 1), data.subarray(1, 1), data.subarray(1, 70_000), data.subarray(70_000, 400_000), data.subarray(400_000)];
    const r = await landChunk(parts, path.join(d, 'obj'), { fd: out.fd, offset: 5000, name: 'target' });
    t.deepEqual(r, { bytes: data.length, hash: hashBytes(data) });
    t.true((await fs.readFile(path.join(d, 'obj'))).equals(data), 'the new file holds the bytes');
    const target = await fs.readFile(path.join(d, 'target'));
    t.is(target.length, 5000 + data.length);
    t.true(target.subarray(5000).equals(data), 'the second output holds them at its offset');
    t.true(target.subarray(0, 5000).equals(Buffer.alloc(5000)), 'and nothing before it');
    // Without a new file: the second output only; without either: the hash only.
    t.deepEqual(await landChunk([data.subarray(0, 10)], '', { fd: out.fd, offset: 0, name: 'target' }), { bytes: 10, hash: hashBytes(data.subarray(0, 10)) });
    t.true((await fs.readFile(path.join(d, 'target'))).subarray(0, 10).equals(data.subarray(0, 10)));
    const longest = Math.max(...VECTORS.map(([n]) => n));
    const vectorInput = Buffer.from(input(longest));
    for (const [len, want] of VECTORS) t.is((await landChunk([vectorInput.subarray(0, len)], '')).hash, want, `input_len ${len}`);
    await t.throwsAsync(landChunk([data], path.join(d, 'obj')), { instanceOf: StoreChunkError, message: /^EEXIST: .*, writing .*obj$/ });
    await t.throwsAsync(landChunk(['x' as unknown as Uint8Array], ''), { instanceOf: TypeError, message: /array of buffers/ });
  } finally {
    await out.close();
  }
  // A second output that cannot be written names itself.
  const readOnly = await fs.open(path.join(d, 'target'), 'r');
  try {
    const e = await t.throwsAsync(landChunk([Buffer.from('abc')], path.join(d, 'obj2'), { fd: readOnly.fd, offset: 0, name: 'model.safetensors.tmp' }), { instanceOf: StoreChunkError });
    t.is(e?.message, 'EBADF: bad file descriptor, writing model.safetensors.tmp');
    const h = await t.throwsAsync(hashChunk(readOnly.fd, 0, 3, 'target', { fd: readOnly.fd, offset: 0, name: 'out' }), { instanceOf: StoreChunkError });
    t.is(h?.message, 'EBADF: bad file descriptor, writing out');
  } finally {
    await readOnly.close();
  }
});

test('read-chunk › reads into the buffer until it is full or the file ends, hashing what it read', async (t) => {
  const d = await dir(t);
  const data = crypto.randomBytes((512 << 10) + 77);
  await fs.writeFile(path.join(d, 'src'), data);
  const src = await fs.open(path.join(d, 'src'), 'r');
  try {
    const into = Buffer.alloc(data.length + 1); // one byte of room, as getPooled reads
    t.deepEqual(await readChunk(src.fd, 0, into, 'src'), { bytes: data.length, hash: hashBytes(data) });
    t.true(into.subarray(0, data.length).equals(data));
    const part = Buffer.alloc(1000);
    t.deepEqual(await readChunk(src.fd, 300_000, part), { bytes: 1000, hash: hashBytes(data.subarray(300_000, 301_000)) });
    t.true(part.equals(data.subarray(300_000, 301_000)));
    const e = await t.throwsAsync(readChunk(987654, 0, part, 'model.safetensors'), { instanceOf: StoreChunkError });
    t.is(e?.message, 'EBADF: bad file descriptor, reading model.safetensors');
  } finally {
    await src.close();
  }
  // getPooled reads this way: a flipped byte is caught, named and removed.
  const store = new ObjectStore(path.join(d, 'store'));
  await new ObjectWriter(store).write('chunk', hashBytes(data), data);
  const pool = new BufferPool();
  const got = await store.getPooled('chunk', hashBytes(data), data.length, pool);
  t.true(got.data.equals(data));
  got.release();
  const flipped = Buffer.from(data);
  flipped[100]! ^= 1;
  await fs.writeFile(store.pathOf('chunk', hashBytes(data)), flipped);
  await t.throwsAsync(store.getPooled('chunk', hashBytes(data), data.length, pool), { instanceOf: IntegrityError, message: /its content hashes to/ });
  t.false(await store.has('chunk', hashBytes(data)));
});

test('store › readRanges reads an object at the given offsets, unverified; shorter when the object is; NotFoundError when absent', async (t) => {
  const d = await dir(t);
  const store = new ObjectStore(path.join(d, 'store'));
  const data = crypto.randomBytes(100_000);
  const hash = hashBytes(data);
  await new ObjectWriter(store).write('chunk', hash, data);
  const got = await store.readRanges('chunk', hash, [0, 50_000, 99_488], 512);
  t.true(got.equals(Buffer.concat([data.subarray(0, 512), data.subarray(50_000, 50_512), data.subarray(99_488)])));
  t.is((await store.readRanges('chunk', hash, [0, 99_900, 10], 512)).length, 512); // stops at the first short range
  await t.throwsAsync(store.readRanges('chunk', 'ab'.repeat(32), [0], 512), { instanceOf: NotFoundError });
});

test('store › writeChunkTo writes a stored chunk at an offset, verified as it goes; a corrupt one is removed and named', async (t) => {
  const d = await dir(t);
  const store = new ObjectStore(path.join(d, 'store'));
  const good = crypto.randomBytes(300_000);
  const bad = crypto.randomBytes(1000);
  await new ObjectWriter(store).write('chunk', hashBytes(good), good);
  await new ObjectWriter(store).write('chunk', hashBytes(bad), bad);
  const flipped = Buffer.from(bad);
  flipped[500]! ^= 1;
  await fs.writeFile(store.pathOf('chunk', hashBytes(bad)), flipped);
  const out = await fs.open(path.join(d, 'target'), 'w');
  try {
    await store.writeChunkTo(hashBytes(good), good.length, { fd: out.fd, offset: 10, name: 'target' });
    const e = await t.throwsAsync(store.writeChunkTo(hashBytes(bad), bad.length, { fd: out.fd, offset: 1_000_000, name: 'target' }), { instanceOf: IntegrityError });
    t.regex(e!.message, new RegExp(`^corrupt chunk ${hashBytes(bad)} in the local store \\(its content hashes to ${hashBytes(flipped)}\\)`));
    t.false(await store.has('chunk', hashBytes(bad)), 'the corrupt object is removed, so that a pull fetches it again');
    await t.throwsAsync(store.writeChunkTo(hashBytes(bad), bad.length, { fd: out.fd, offset: 1_000_000, name: 'target' }), { instanceOf: NotFoundError });
    // A manifest that claims one byte more than a chunk that verifies is wrong; the chunk is kept.
    const e2 = await t.throwsAsync(store.writeChunkTo(hashBytes(good), good.length + 1, { fd: out.fd, offset: 1_000_000, name: 'target' }), { instanceOf: IntegrityError });
    t.regex(e2!.message, /has 300001 bytes, but the local copy, which matches its hash, has 300000: the manifest is wrong/);
    t.true(await store.has('chunk', hashBytes(good)), 'local data is not deleted on a manifest\'s word');
    // A stored chunk cut short is corrupt: it fails its own hash, and is removed.
    await fs.truncate(store.pathOf('chunk', hashBytes(good)), 299_999);
    const e3 = await t.throwsAsync(store.writeChunkTo(hashBytes(good), good.length, { fd: out.fd, offset: 2_000_000, name: 'target' }), { instanceOf: IntegrityError });
    t.regex(e3!.message, /^corrupt chunk \S+ in the local store \(it holds 299999 of its 300000 bytes\)/);
    t.false(await store.has('chunk', hashBytes(good)));
  } finally {
    await out.close();
  }
  t.true((await fs.readFile(path.join(d, 'target'))).subarray(10, 10 + good.length).equals(good), 'the good chunk was written where asked');
});

test('store-by-copy › stores every range under the hash of its bytes, duplicates once, no temp left', async (t) => {
  const d = await dir(t);
  const piece = crypto.randomBytes(1 << 20);
  const data = Buffer.concat([piece, crypto.randomBytes(777_777), piece, crypto.randomBytes(5), piece]);
  const lengths = [1 << 20, 777_777, 1 << 20, 5, 1 << 20];
  await fs.writeFile(path.join(d, 'file'), data);
  const store = new ObjectStore(path.join(d, 'store'));
  const seen: CopiedChunk[] = [];
  const hashes = await storeByCopy(new ObjectWriter(store), path.join(d, 'file'), lengths, new Set(), (c) => seen.push(c));
  let pos = 0;
  const expected = lengths.map((n) => hashBytes(data.subarray(pos, (pos += n))));
  t.deepEqual(hashes, expected);
  const objects = await storedObjects(store);
  t.is(objects.size, 3);
  for (const [h, bytes] of objects) t.is(hashBytes(bytes), h);
  t.is(seen.filter((c) => c.isNew).length, 3);
  t.is(seen.reduce((a, c) => a + c.size, 0), data.length);
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
  // A second time: nothing new, nothing left over.
  const again: CopiedChunk[] = [];
  await storeByCopy(new ObjectWriter(store), path.join(d, 'file'), lengths, new Set(), (c) => again.push(c));
  t.true(again.every((c) => !c.isNew));
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});

test('store-by-copy › hashing first, it writes only the chunks the store lacks', async (t) => {
  const d = await dir(t);
  const [a, b, c] = [crypto.randomBytes(1 << 20), crypto.randomBytes(300_001), crypto.randomBytes(1 << 20)];
  const lengths = [a.length, b.length, c.length, a.length];
  await fs.writeFile(path.join(d, 'v1'), Buffer.concat([a, b, c]));
  await fs.writeFile(path.join(d, 'v2'), Buffer.concat([a, crypto.randomBytes(b.length), c, a]));
  const store = new ObjectStore(path.join(d, 'store'));
  await storeByCopy(new ObjectWriter(store), path.join(d, 'v1'), lengths.slice(0, 3), new Set(), () => {});
  const seen: CopiedChunk[] = [];
  const v2 = await fs.readFile(path.join(d, 'v2'));
  const hashes = await storeByCopy(new ObjectWriter(store), path.join(d, 'v2'), lengths, new Set(), (x) => seen.push(x), 'hash-first');
  let pos = 0;
  t.deepEqual(hashes, lengths.map((n) => hashBytes(v2.subarray(pos, (pos += n)))));
  t.deepEqual(seen.filter((x) => x.isNew).map((x) => x.hash), [hashes[1]], 'only the changed chunk is new');
  const objects = await storedObjects(store);
  t.is(objects.size, 4);
  for (const [h, bytes] of objects) t.is(hashBytes(bytes), h);
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});

test('store-by-copy › FastCDC cuts are stored as the chunker finds them, in file order', async (t) => {
  const d = await dir(t);
  const data = crypto.randomBytes(9 << 20);
  await fs.writeFile(path.join(d, 'file'), data);
  const sizes: number[] = [];
  async function* cuts() {
    for await (const c of chunkFile(path.join(d, 'file'), DEFAULT_CHUNKER)) {
      sizes.push(c.data.length);
      yield { offset: c.offset, size: c.data.length };
    }
  }
  const store = new ObjectStore(path.join(d, 'store'));
  const hashes = await storeRanges(new ObjectWriter(store), path.join(d, 'file'), cuts(), new Set(), () => {});
  t.true(sizes.length > 3, `${sizes.length} chunks`);
  let pos = 0;
  t.deepEqual(hashes, sizes.map((n) => hashBytes(data.subarray(pos, (pos += n)))));
  t.is(pos, data.length);
  for (const [h, bytes] of await storedObjects(store)) t.is(hashBytes(bytes), h);
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});

test('store-by-copy › a failing chunker stops the stores, and leaves no temp', async (t) => {
  const d = await dir(t);
  await fs.writeFile(path.join(d, 'file'), crypto.randomBytes(4 << 20));
  async function* cuts() {
    for (let i = 0; i < 3; i++) yield { offset: i << 20, size: 1 << 20 };
    throw new Error('the chunker failed');
  }
  const store = new ObjectStore(path.join(d, 'store'));
  await t.throwsAsync(storeRanges(new ObjectWriter(store), path.join(d, 'file'), cuts(), new Set(), () => {}), { message: 'the chunker failed' });
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});

test('store-by-copy › a file shorter or longer than its cuts fails, and stores nothing wrong', async (t) => {
  const d = await dir(t);
  const data = crypto.randomBytes(3 << 20);
  await fs.writeFile(path.join(d, 'file'), data);
  const store = new ObjectStore(path.join(d, 'store'));
  for (const mode of ['store', 'hash-first'] as const) {
    const shrank = storeByCopy(new ObjectWriter(store), path.join(d, 'file'), [2 << 20, 2 << 20], new Set(), () => {}, mode);
    await t.throwsAsync(shrank, { message: /shrank while it was being read/ });
    const grew = storeByCopy(new ObjectWriter(store), path.join(d, 'file'), [1 << 20, 1 << 20], new Set(), () => {}, mode);
    await t.throwsAsync(grew, { message: /grew while it was being read/ });
  }
  for (const [h, bytes] of await storedObjects(store)) t.is(hashBytes(bytes), h, 'every stored object matches its name');
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});

test('store-by-copy › a file on another file system (tmpfs) is stored all the same', async (t) => {
  const shm = await fs.mkdtemp('/dev/shm/ckpt-copy-');
  t.teardown(() => fs.rm(shm, { recursive: true, force: true }));
  const data = crypto.randomBytes((2 << 20) + 3);
  await fs.writeFile(path.join(shm, 'file'), data);
  const store = new ObjectStore(path.join(await dir(t), 'store'));
  const hashes = await storeByCopy(new ObjectWriter(store), path.join(shm, 'file'), [1 << 20, (1 << 20) + 3], new Set(), () => {});
  t.deepEqual(hashes, [hashBytes(data.subarray(0, 1 << 20)), hashBytes(data.subarray(1 << 20))]);
  for (const [h, bytes] of await storedObjects(store)) t.is(hashBytes(bytes), h);
});

test('store-by-copy › add of a new safetensors file stores exactly the chunks its manifest names', async (t) => {
  const d = await dir(t);
  const file = path.join(d, 'model.safetensors');
  await writeSafetensors(file, { tensors: [largeTensor('a', 9 << 20), { name: 'b', dtype: 'F32', shape: [100] }, largeTensor('c', 5 << 20)] });
  const data = await fs.readFile(file);
  const store = new ObjectStore(path.join(d, 'store'));
  const r = await ingestPath(store, file);
  const entry = r.manifest.files.at(0)!;
  t.is(entry.chunker.alg, 'safetensors');
  t.is(entry.size, data.length);
  let pos = 0;
  for (const [i, h] of entry.chunks.entries()) t.is(h, hashBytes(data.subarray(pos, (pos += entry.sizes[i]!))));
  const objects = await storedObjects(store);
  t.deepEqual([...objects.keys()].sort(), [...new Set(entry.chunks)].sort());
  t.is(r.chunksNew, objects.size);
  t.is(r.bytesNew, data.length);
  t.deepEqual(await findFiles(store.root, TMP_MARK), []);
});
