import test from 'ava';
import { Packr } from 'msgpackr';
import { DEFAULT_CHUNKER } from '../../src/core/chunker.js';
import { hashBytes } from '../../src/core/hash.js';
import { chunkTableOf, decodeManifest, encodeManifest, encodeManifestParts, indexByPath, ManifestDecoder, manifestFile, PackedFiles, pathAt, withMode, type Manifest } from '../../src/core/manifest.js';
import { ChunkTable, Uint32List } from '../../src/core/chunk-table.js';
import { PathSlabs } from '../../src/core/path-slabs.js';
import { IntegrityError, UnsafePathError } from '../../src/errors.js';

const h = (s: string) => hashBytes(Buffer.from(s));
const m: Manifest = {
  format: 1,
  type: 'dir',
  files: [
    { path: 'shards/b.safetensors', size: 5_000_000_000, mode: 0o644, chunker: DEFAULT_CHUNKER, chunks: ['1', '2', '3', '4', '5'].map((x) => h(`b${x}`)), sizes: Array(5).fill(1_000_000_000) },
    { path: 'a.json', size: 3, mode: 0o600, chunker: DEFAULT_CHUNKER, chunks: [h('a')], sizes: [3] },
  ],
};
const raw = new Packr({ useRecords: false, variableMapSize: true });
// Compared field by field: a one-chunk file's hash lives at some place in a shared slab.
const plain = (x: Manifest) => ({ ...x, files: x.files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, chunker: f.chunker, chunks: f.chunks, sizes: f.sizes })) });

test('encoding is deterministic and independent of file order; decoding round-trips', (t) => {
  const a = encodeManifest(m);
  const b = encodeManifest({ ...m, files: [...m.files].reverse() });
  t.true(a.equals(b));
  const back = decodeManifest(a);
  t.deepEqual(back.files.map((f) => f.path), ['a.json', 'shards/b.safetensors']);
  t.deepEqual(back.files.at(1), m.files.at(0));
  t.true(encodeManifest(back).equals(a));
  // Sizes of 2^32 and more are int64 (0xd3), as the spec says.
  t.true(a.includes(Buffer.from([0xd3, 0, 0, 0, 1, 0x2a, 0x05, 0xf2, 0])));
});

const hostile = (patch: (o: any) => void) => {
  const o = raw.unpack(encodeManifest(m));
  patch(o);
  return raw.pack(o);
};

test('truncated or garbage manifests are refused with IntegrityError', (t) => {
  const a = encodeManifest(m);
  t.throws(() => decodeManifest(a.subarray(0, a.length - 5)), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(Buffer.from('not msgpack at all')), { instanceOf: IntegrityError });
});

test('a newer format version is refused with a message to upgrade', (t) => {
  const e = t.throws(() => decodeManifest(hostile((o) => (o.format = 2))), { instanceOf: IntegrityError });
  t.regex(e!.message, /upgrade ckptsync/);
});

test('paths that escape the target are refused before anything is written', (t) => {
  for (const p of ['../evil', 'a/../../evil', '/etc/passwd', 'C:/x', 'a//b', './a', 'a\\..\\b', 'nul\0byte', '']) {
    t.throws(() => decodeManifest(hostile((o) => (o.files[0].path = p))), { instanceOf: UnsafePathError }, JSON.stringify(p));
  }
  t.throws(() => decodeManifest(hostile((o) => (o.files[1].path = 'a.json/inner'))), { instanceOf: UnsafePathError });
});

test('absurd sizes, counts and mismatched chunk lists are refused', (t) => {
  t.throws(() => decodeManifest(hostile((o) => (o.files[1].size = 2 ** 60))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[1].size = -1))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[0].sizes = [3, 4]))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[1].sizes = [0, 3]))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[0].chunks = Buffer.alloc(33)))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[0].chunker.avg = 1000))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.files[0].chunker = { alg: 'rabin', min: -1, avg: 2, max: 3 }))), { instanceOf: IntegrityError });
  // A chunker from a newer version is fine: reading only concatenates chunks.
  t.notThrows(() => decodeManifest(hostile((o) => (o.files[0].chunker = { alg: 'gguf-tensors', min: 1, avg: 2, max: 3 }))));
  t.throws(() => decodeManifest(hostile((o) => o.files.push(o.files[0]))), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(hostile((o) => (o.type = 'file'))), { instanceOf: IntegrityError });
  // One hash, one length: the same chunk with two sizes, in two one-chunk files or a one-chunk file and a larger one.
  const twice = (o: any) => ((o.files[1].chunks = o.files[0].chunks), (o.files[1].size = o.files[1].sizes[0] = 7), (o.files[1].sizes.length = 1));
  t.throws(() => decodeManifest(hostile(twice)), { instanceOf: IntegrityError, message: /has 7 bytes here and 3 elsewhere/ });
  t.throws(() => decodeManifest(hostile((o) => (o.files[0].chunks = o.files[1].chunks.subarray(0, 32)))), { instanceOf: IntegrityError, message: /has 1000000000 bytes here and 3 elsewhere/ });
});

test('a manifest packed file by file is the same bytes as packed whole, at every array header size', (t) => {
  const whole = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number', mapsAsObjects: true });
  for (const n of [0, 1, 15, 16, 65535, 65536]) {
    const files = Array.from({ length: n }, (_, i) => ({ path: `d/${String(i).padStart(6, '0')}-é.bin`, size: i + 1, mode: 0o644, chunker: DEFAULT_CHUNKER, chunks: [h(String(i))], sizes: [i + 1] }));
    const expected = whole.pack({
      format: 1,
      type: 'dir',
      files: files.map((f) => ({ path: f.path, size: f.size, mode: f.mode, chunker: { ...DEFAULT_CHUNKER }, chunks: Buffer.from(f.chunks[0]!, 'hex'), sizes: f.sizes })),
    });
    t.true(encodeManifest({ format: 1, type: 'dir', files }).equals(expected), `${n} files`);
    // In parts of any size (a record is never split), the same bytes.
    const parts = [...encodeManifestParts({ format: 1, type: 'dir', files }, 1000)];
    t.true(Buffer.concat(parts).equals(expected), `${n} files in ${parts.length} parts`);
    if (n > 100) t.true(parts.length > 2 && parts.every((p) => p.length <= 1000), 'parts of at most the size asked for');
  }
  // And with sizes past 2^32 (int64) and many chunks, as in the first test's manifest.
  const big = m.files.at(0)!;
  t.true(encodeManifest({ format: 1, type: 'file', files: [big] }).equals(whole.pack({ format: 1, type: 'file', files: [{ ...big, size: BigInt(big.size), chunker: { ...DEFAULT_CHUNKER }, chunks: Buffer.from(big.chunks.join(''), 'hex'), sizes: big.sizes }] })));
});

test('decoded files share one chunker record per distinct chunker', (t) => {
  const back = decodeManifest(encodeManifest({ format: 1, type: 'dir', files: [m.files.at(1)!, { ...m.files.at(1)!, path: 'b.json' }] }));
  t.is(back.files.at(0)!.chunker, back.files.at(1)!.chunker);
  t.deepEqual(back.files.at(0)!.chunker, DEFAULT_CHUNKER);
});

test('a manifest read record by record agrees with one read whole: a list short of its count or with a record past it is refused', (t) => {
  const a = encodeManifest(m);
  // Keys in another order: not the encoder's bytes, so unpacked whole; the same manifest either way.
  const reordered = raw.pack({ files: raw.unpack(a).files, type: 'dir', format: 1 });
  t.false(reordered.equals(a));
  t.deepEqual(plain(decodeManifest(reordered)), plain(decodeManifest(a)));
  // The last record cut off at a record boundary: the list is one short of its count.
  const one = encodeManifest({ ...m, files: [m.files.at(1)!] });
  const second = raw.pack(raw.unpack(encodeManifest({ ...m, files: [m.files.at(0)!] })).files[0]);
  t.throws(() => decodeManifest(Buffer.concat([a.subarray(0, a.length - second.length)])), { instanceOf: IntegrityError });
  t.throws(() => decodeManifest(Buffer.concat([one, second])), { instanceOf: IntegrityError });
  t.is(decodeManifest(one).files.length, 1);
});

test('a manifest decoded from pieces of any size agrees with one decoded whole; cut short or overlong, it is refused', (t) => {
  const many: Manifest = { ...m, files: [...m.files, ...Array.from({ length: 300 }, (_, i) => manifestFile(`d/f${i}`, 10, 0o644, DEFAULT_CHUNKER, [h(String(i))], [10]))] };
  const bytes = encodeManifest(many);
  const reordered = raw.pack({ files: raw.unpack(bytes).files, type: 'dir', format: 1 }); // decoded whole at the end
  const inPieces = (data: Buffer, size: number) => {
    const d = new ManifestDecoder('m');
    for (let at = 0; at < data.length; at += size) d.push(data.subarray(at, at + size));
    return d.end();
  };
  for (const data of [bytes, reordered]) {
    const whole = plain(decodeManifest(data));
    t.is(whole.files.length, 302);
    for (const size of [1, 7, 64, 1000, data.length]) t.deepEqual(plain(inPieces(data, size)), whole, `pieces of ${size}`);
    for (const size of [1, 100]) t.throws(() => inPieces(data.subarray(0, data.length - 3), size), { instanceOf: IntegrityError }, `cut short, pieces of ${size}`);
  }
  t.throws(() => inPieces(Buffer.concat([bytes, bytes.subarray(-40)]), 50), { instanceOf: IntegrityError }, 'bytes after the last record');
  t.throws(() => inPieces(bytes.subarray(0, 20), 3), { instanceOf: IntegrityError }, 'shorter than any head');
});

test('a chunks-only decode gives the same chunks as a full one, and refuses the same malformed manifests', (t) => {
  const many: Manifest = { ...m, files: [...m.files, ...Array.from({ length: 50 }, (_, i) => manifestFile(`d/f${i}`, 10, 0o644, DEFAULT_CHUNKER, [h(String(i % 7))], [10]))] };
  const chunksOf = (data: Buffer) => {
    const d = new ManifestDecoder('m', true);
    for (let at = 0; at < data.length; at += 100) d.push(data.subarray(at, at + 100));
    return d.endChunks();
  };
  for (const data of [encodeManifest(many), raw.pack({ files: raw.unpack(encodeManifest(many)).files, type: 'dir', format: 1 })]) {
    const table = chunksOf(data);
    const full = chunkTableOf(decodeManifest(data));
    t.deepEqual([...table], [...full]);
    t.deepEqual([...table].map((_, id) => table.sizeOf(id)), [...full].map((_, id) => full.sizeOf(id)));
  }
  t.throws(() => new ManifestDecoder('m', true).end(), { message: /endChunks/ });
  const dup = hostile((o) => o.files.push(o.files[0]));
  t.throws(() => chunksOf(dup), { instanceOf: IntegrityError, message: /duplicate path/ });
  const under = encodeManifest({ ...m, files: [...m.files, manifestFile('a.json/x', 3, 0o644, DEFAULT_CHUNKER, [h('a')], [3])] });
  t.throws(() => chunksOf(under), { instanceOf: UnsafePathError });
});

test('a marking decode marks the chunks of the wanted table it names and tables only the others; a wanted chunk named with another size is refused', (t) => {
  const many: Manifest = { ...m, files: [...m.files, ...Array.from({ length: 50 }, (_, i) => manifestFile(`d/f${i}`, 10, 0o644, DEFAULT_CHUNKER, [h(String(i % 7))], [10]))] };
  const marking = (data: Buffer, wanted: ChunkTable) => {
    const marks = { wanted, marked: new Uint32List() };
    const d = new ManifestDecoder('m', marks);
    for (let at = 0; at < data.length; at += 100) d.push(data.subarray(at, at + 100));
    const rest = d.endChunks();
    const held = new Array<number>(wanted.count).fill(0);
    for (let i = 0; i < marks.marked.length; i++) held[marks.marked.at(i)] = 1;
    return { rest, held };
  };
  for (const data of [encodeManifest(many), raw.pack({ files: raw.unpack(encodeManifest(many)).files, type: 'dir', format: 1 })]) {
    const full = chunkTableOf(decodeManifest(data));
    // Wanted: chunks 0, 2 and 4 of the manifest, and one it does not name.
    const wanted = new ChunkTable();
    for (const id of [0, 2, 4]) wanted.add(full.hashOf(id), full.sizeOf(id));
    wanted.add(h('not named'), 5);
    const { rest, held } = marking(data, wanted);
    t.deepEqual(held, [1, 1, 1, 0]);
    t.deepEqual([...rest], [...full].filter((x) => !wanted.has(x)));
    t.deepEqual([...rest].map((_, id) => rest.sizeOf(id)), [...full].filter((x) => !wanted.has(x)).map((x) => full.sizeOf(full.idOf(x))));
    // The same chunk with another size in the wanted table: one of the two manifests is wrong.
    const other = new ChunkTable();
    other.add(full.hashOf(1), full.sizeOf(1) + 1);
    t.throws(() => marking(data, other), { instanceOf: IntegrityError, message: /bytes here and/ });
  }
  const wanted = new ChunkTable();
  wanted.add(h('a'), 3);
  t.throws(() => marking(hostile((o) => o.files.push(o.files[0])), wanted), { instanceOf: IntegrityError, message: /duplicate path/ });
  const under = encodeManifest({ ...m, files: [...m.files, manifestFile('a.json/x', 3, 0o644, DEFAULT_CHUNKER, [h('a')], [3])] });
  t.throws(() => marking(under, wanted), { instanceOf: UnsafePathError });
});

test('parts written into one reused buffer, each taken before the next, are the manifest\'s bytes', (t) => {
  const many: Manifest = { ...m, files: [...m.files, ...Array.from({ length: 40 }, (_, i) => manifestFile(`d/f${i}`, 10, 0o644, DEFAULT_CHUNKER, [h(String(i))], [10]))] };
  const taken: Buffer[] = [];
  const places: [ArrayBufferLike, number][] = [];
  for (const part of encodeManifestParts(many, 200, true)) {
    taken.push(Buffer.from(part));
    if (!places.some(([b, at]) => b === part.buffer && at === part.byteOffset)) places.push([part.buffer, part.byteOffset]);
  }
  t.true(Buffer.concat(taken).equals(encodeManifest(many)));
  t.true(taken.length > 4);
  // The head, the records' buffer, and one more for the first record larger than 200 bytes (the 5-chunk file's).
  t.true(places.length <= 3, `${places.length} places for ${taken.length} parts`);
});

test('decoded files are packed, in order or not: each entry, lookup by path and re-encoding agree with the files given', (t) => {
  const one = (p: string, i: number) => manifestFile(p, 10 + (i % 3), 0o644 + (i % 2), DEFAULT_CHUNKER, [h(String(i % 3))], [10 + (i % 3)]);
  const files = ['a', 'a-x', 'a.b/c', 'b/c/d', 'é/ü', 'z'].map(one);
  const given: Manifest = { format: 1, type: 'dir', files: [...files, { ...m.files.at(0)!, path: 'big' }, { path: 'empty', size: 0, mode: 0o600, chunker: DEFAULT_CHUNKER, chunks: [], sizes: [] }] };
  const bytes = encodeManifest(given);
  const shuffled = raw.pack({ format: 1, type: 'dir', files: [...raw.unpack(bytes).files].reverse() });
  for (const [data, sorted] of [[bytes, true], [shuffled, false]] as const) {
    const back = decodeManifest(data);
    t.true(back.files instanceof PackedFiles);
    t.is((back.files as PackedFiles).sorted, sorted);
    const expected = plain({ ...given, files: [...given.files].sort((x, y) => (x.path < y.path ? -1 : 1)) }).files;
    const got = plain(back).files;
    t.deepEqual(sorted ? got : [...got].reverse(), expected);
    t.deepEqual([...back.files.entries()].map(([i, f]) => [i, f.path]), back.files.map((f, i) => [i, pathAt(back.files, i)]));
    t.is(back.files.at(-1)!.path, back.files.at(back.files.length - 1)!.path);
    t.is(back.files.at(back.files.length), undefined);
    const index = indexByPath(back.files);
    for (const [i, f] of back.files.entries()) t.is(index(f.path), i);
    for (const [i, f] of [...back.files.entries()].reverse()) t.is(index(f.path), i); // not in order: searched
    t.is(index('a/'), undefined);
    t.true(encodeManifest(back).equals(bytes));
  }
});

test('a duplicate path, or a file under another file, is refused whether the paths come in order or not', (t) => {
  const rec = raw.unpack(encodeManifest(m)).files[1];
  const withPaths = (paths: string[], whole: boolean) => {
    const files = paths.map((path) => ({ ...rec, path }));
    return whole ? raw.pack({ files, type: 'dir', format: 1 }) : raw.pack({ format: 1, type: 'dir', files });
  };
  for (const whole of [false, true]) {
    for (const paths of [['a', 'a'], ['b', 'a', 'b'], ['a', 'b', 'c', 'a']]) {
      t.throws(() => decodeManifest(withPaths(paths, whole)), { instanceOf: IntegrityError, message: /duplicate path/ }, paths.join());
    }
    for (const paths of [['a', 'a-x', 'a/b'], ['a', 'a-x', 'a.b', 'a/b/c'], ['x/a', 'x/a/b/c'], ['a/b', 'a'], ['z', 'a/b', 'a']]) {
      t.throws(() => decodeManifest(withPaths(paths, whole)), { instanceOf: UnsafePathError, message: /is also a directory/ }, paths.join());
    }
    for (const paths of [['a', 'a-x', 'a.b/c', 'ab/c'], ['b', 'a/b', 'a-b']]) t.notThrows(() => decodeManifest(withPaths(paths, whole)), paths.join());
  }
});

test('a list packed over given paths takes entries in any order, from several tables, and encodes as the same files in an array do', (t) => {
  const seen = new ChunkTable();
  const decoded = decodeManifest(encodeManifest({ format: 1, type: 'dir', files: [manifestFile('c', 5, 0o644, DEFAULT_CHUNKER, [h('c')], [5])] })).files;
  const given = [
    manifestFile('a', 4, 0o644, DEFAULT_CHUNKER, [h('a')], [4], seen),
    m.files.at(0)!, // five chunks: kept as it is
    decoded.at(0)!, // held in the decoded manifest's table
    withMode(decoded.at(0)!, 0o600), // its hash in a slab
    manifestFile('e', 0, 0o644, DEFAULT_CHUNKER, [], []),
  ].map((f, i) => (i === 3 ? manifestFile('d', f.size, f.mode, f.chunker, f.chunks, f.sizes) : i === 1 ? { ...f, path: 'b' } : f));
  const paths = new PathSlabs();
  for (const f of given) paths.push(f.path);
  const packed = PackedFiles.over(paths);
  t.throws(() => packed.at(2), { message: /never given/ });
  for (const i of [4, 2, 0, 3, 1]) packed.set(i, given[i]!);
  t.throws(() => packed.set(1, given[1]!), { message: /given twice/ });
  t.true(packed.sorted);
  t.deepEqual(plain({ format: 1, type: 'dir', files: packed }), plain({ format: 1, type: 'dir', files: given }));
  t.true(encodeManifest({ format: 1, type: 'dir', files: packed }).equals(encodeManifest({ format: 1, type: 'dir', files: given })));
  t.is(packed.oneChunkId(0), -1); // a built list has no table of its own: ids are not the manifest's
  t.is(chunkTableOf({ format: 1, type: 'dir', files: packed }).count, 7); // a, five, and c (twice)
  const reversed = new PathSlabs();
  for (const p of ['b', 'a']) reversed.push(p);
  t.false(PackedFiles.over(reversed).sorted);
});
