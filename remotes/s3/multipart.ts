// Multipart upload for large objects: the source is read once, cut into parts of partSize bytes, and
// up to `concurrency` parts are in flight at a time (memory: concurrency x partSize). Any failure
// aborts the upload so no orphaned parts keep costing storage, and the whole put fails; the engine's
// retry wrapper starts over from a fresh stream of the replayable source.

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConfigError, type ByteSource } from '../../src/remote/index.js';

/** S3 allows at most 10,000 parts, each at least 5 MiB except the last. */
const MAX_PARTS = 10_000;

export async function multipartUpload(
  client: S3Client,
  bucket: string,
  key: string,
  source: ByteSource,
  opts: { partSize: number; concurrency: number },
): Promise<void> {
  const partSize = Math.max(opts.partSize, 5 << 20, Math.ceil(source.size / MAX_PARTS));
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  if (!UploadId) throw new ConfigError(`S3 did not return an upload id for ${key}`, { key });
  const done: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let failed: unknown;

  const send = (partNumber: number, body: Buffer) => {
    const p = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }))
      .then((r) => {
        done.push({ PartNumber: partNumber, ETag: r.ETag });
      })
      .catch((e) => {
        failed ??= e;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  try {
    let part = Buffer.allocUnsafe(partSize);
    let fill = 0;
    let partNumber = 0;
    let total = 0;
    for await (const piece of source.open()) {
      let b = piece as Buffer;
      total += b.length;
      while (b.length > 0) {
        const n = Math.min(b.length, partSize - fill);
        b.copy(part, fill, 0, n);
        fill += n;
        b = b.subarray(n);
        if (fill === partSize) {
          while (inflight.size >= opts.concurrency) await Promise.race(inflight);
          if (failed) throw failed;
          send(++partNumber, part);
          part = Buffer.allocUnsafe(partSize);
          fill = 0;
        }
      }
    }
    if (total !== source.size) throw new Error(`short read of ${key}: ${total} of ${source.size} bytes`);
    if (fill > 0 || partNumber === 0) send(++partNumber, part.subarray(0, fill));
    await Promise.all(inflight);
    if (failed) throw failed;
    done.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }),
    );
  } catch (e) {
    await Promise.allSettled(inflight);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw e;
  }
}
