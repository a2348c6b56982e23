// Fixes to s3rver 3.7.1's filesystem store, so that the test server keeps S3's promises under the
// concurrency the tests create (many ranks racing for one lock; a ref read while another process writes it).
// Loaded by s3rver-main.ts before the server starts. What S3 promises and s3rver broke:
// - An object appears whole, with its ETag, or not at all. s3rver wrote the object over the old one in place
//   (a reader saw it cut short), then its md5 and metadata files (a reader saw new bytes with the old ETag, and
//   the lock-based compare-and-swap compares ETags), and left a partial object when the client went away.
//   Here the body goes to a temp file; the md5, metadata and the rename into place happen under the key's
//   lock, which readers of that key take too.
// - A put never fails because of another key. Deleting a key removed its directories once empty, undoing the
//   mkdir of a put in the same directory before its file opened: the write stream's ENOENT, which had no
//   listener, killed the server. Deletes leave directories here; an empty one lists nothing (a listing walks
//   object files).
// - A listing sees each key once, whole or not at all. A listing that stats a key deleted since it read the
//   directory failed with ENOENT (an InternalError to the client); it is read again instead.
// - "Range: bytes=0-0" is one byte. s3rver read `end || Infinity` and served the whole object; a Number
//   object is truthy yet compares as 0.

import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const require = createRequire(import.meta.url);
const FilesystemStore = require('s3rver/lib/stores/filesystem.js');
const S3Object = require('s3rver/lib/models/object.js') as { ALLOWED_METADATA: string[] };

interface Store {
  getResourcePath(bucket: string, key: string, kind: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
}
interface PutObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

const proto = FilesystemStore.prototype;
const rawGetMetadata = proto.getMetadata as Store['getMetadata'];
const rawGetObject = proto.getObject as (this: Store, bucket: string, key: string, options?: { start?: number; end?: number }) => Promise<unknown>;
const rawListObjects = proto.listObjects as (this: Store, ...args: unknown[]) => Promise<unknown>;

// One key's operations run one at a time, in order (they are short: the body is written before the lock).
const tails = new Map<string, Promise<unknown>>();
function underKey<T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> {
  const id = `${bucket}/${key}`;
  const run = (tails.get(id) ?? Promise.resolve()).then(fn);
  const tail = run.catch(() => undefined);
  tails.set(id, tail);
  void tail.then(() => tails.get(id) === tail && tails.delete(id));
  return run;
}

let temps = 0;
const tempOf = (file: string) => `${file}.${process.pid}-${++temps}.tmp`; // not an object file, so never listed

async function writeWhole(file: string, data: string): Promise<void> {
  const tmp = tempOf(file);
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}

proto.getMetadata = function (this: Store, bucket: string, key: string) {
  return underKey(bucket, key, () => rawGetMetadata.call(this, bucket, key));
};

proto.getObject = function (this: Store, bucket: string, key: string, options?: { start?: number; end?: number }) {
  if (options?.end === 0) options = { ...options, end: new Number(0) as unknown as number };
  // The original reads the metadata through this.getMetadata: under the lock already held, the unlocked one.
  const inside = Object.create(this, { getMetadata: { value: rawGetMetadata } }) as Store;
  // It resolves once the object's file is open, so a rename after the lock is released changes nothing it reads.
  return underKey(bucket, key, () => rawGetObject.call(inside, bucket, key, options));
};

proto.putMetadata = async function (this: Store, bucket: string, key: string, metadata: Record<string, string>, md5?: string) {
  const kept = Object.entries(metadata).filter(([k]) => S3Object.ALLOWED_METADATA.includes(k) || k.startsWith('x-amz-meta-'));
  if (md5) await writeWhole(this.getResourcePath(bucket, key, 'object.md5'), md5);
  await writeWhole(this.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(Object.fromEntries(kept), null, 2));
};

proto.putObject = async function (this: Store & { putMetadata: typeof proto.putMetadata }, object: PutObject) {
  const file = this.getResourcePath(object.bucket, object.key, 'object');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempOf(file);
  const md5 = crypto.createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      md5.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, count, fs.createWriteStream(tmp));
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  const digest = md5.digest('hex');
  await underKey(object.bucket, object.key, async () => {
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    await fsp.rename(tmp, file);
  });
  return { size, md5: digest };
};

proto.deleteObject = function (this: Store, bucket: string, key: string) {
  const gone = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  };
  return underKey(bucket, key, async () => {
    await fsp.unlink(this.getResourcePath(bucket, key, 'object')).catch(gone);
    await Promise.all(['object.md5', 'metadata.json'].map((kind) => fsp.unlink(this.getResourcePath(bucket, key, kind)).catch(gone)));
  });
};

proto.listObjects = async function (this: Store, ...args: unknown[]) {
  for (let tries = 1; ; tries++) {
    try {
      return await rawListObjects.apply(this, args);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || tries === 10) throw err;
    }
  }
};
