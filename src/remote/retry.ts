// A wrapper that retries transient failures with exponential backoff and jitter
// (restic's backend/retry). Uploads restart from a fresh stream because sources are replayable.

import { Readable } from 'node:stream';
import { CkptError, isRetryable, TransientError } from '../errors.js';
import type { ByteRange, ByteSource, ObjectInfo, Remote } from './types.js';

export interface RetryOptions {
  /** Tries after the first. */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (info: { op: string; key: string; attempt: number; delayMs: number; error: unknown }) => void;
}

export async function retrying<T>(op: string, key: string, fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = opts.retries ?? 6;
  const base = opts.baseDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= retries || !isRetryable(error)) throw error;
      const hinted = error instanceof TransientError ? error.retryAfterMs : undefined;
      const delayMs = hinted ?? Math.min(max, base * 2 ** attempt) * (0.5 + Math.random() / 2);
      opts.onRetry?.({ op, key, attempt: attempt + 1, delayMs, error });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

export function withRetry(remote: Remote, opts: RetryOptions = {}): Remote {
  const r = <T>(op: string, key: string, fn: () => Promise<T>) => retrying(op, key, fn, opts);
  return {
    displayUrl: remote.displayUrl,
    features: remote.features,
    stat: (key) => r('stat', key, () => remote.stat(key)),
    put: (key: string, source: ByteSource) => r('put', key, () => remote.put(key, source)),
    get: async (key: string, range?: ByteRange) => resumingBody(remote, key, range, await r('get', key, () => remote.get(key, range)), opts),
    readInto: remote.readInto && ((key: string, into: Buffer) => r('readInto', key, () => remote.readInto!(key, into))),
    list: (prefix: string) => listRetrying(remote, prefix, opts),
    delete: (key) => r('delete', key, () => remote.delete(key)),
    readDocument: (key) => r('readDocument', key, () => remote.readDocument(key)),
    swapDocument: (key, data, expected) => r('swapDocument', key, () => remote.swapDocument(key, data, expected)),
    exists: () => r('exists', '', () => remote.exists()),
    close: () => remote.close(),
  };
}

/**
 * A body that fails midway (a reset, a stall timing out, a response cut short) is not an error for the
 * reader when the remote serves ranges: the rest is fetched from where it broke off, up to `retries`
 * times, as rclone's ReOpen does. Without ranges the failure is passed on (the caller starts over).
 */
function resumingBody(remote: Remote, key: string, range: ByteRange | undefined, first: Readable, opts: RetryOptions): Readable {
  if (!remote.features.rangedGet) return first;
  const retries = opts.retries ?? 6;
  return Readable.from(
    (async function* () {
      let body = first;
      let delivered = 0;
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            for await (const piece of body) {
              delivered += (piece as Buffer).length;
              yield piece as Buffer;
            }
            return;
          } catch (error) {
            body.destroy();
            // The answer had begun, so its status was fine: a failure while reading it is the network's.
            const transport = isRetryable(error) || !(error instanceof CkptError);
            if (attempt >= retries || !transport) throw error;
            const delayMs = Math.min(opts.maxDelayMs ?? 10_000, (opts.baseDelayMs ?? 100) * 2 ** attempt) * (0.5 + Math.random() / 2);
            opts.onRetry?.({ op: 'get (resume)', key, attempt: attempt + 1, delayMs, error });
            await new Promise((res) => setTimeout(res, delayMs));
            const end = range ? range.offset + range.length : (await retrying('stat', key, () => remote.stat(key), opts))?.size;
            const offset = (range?.offset ?? 0) + delivered;
            if (end === undefined) throw error; // gone meanwhile: report the original failure
            if (offset >= end) return;
            body = await retrying('get', key, () => remote.get(key, { offset, length: end - offset }), opts);
          }
        }
      } finally {
        body.destroy();
      }
    })(),
    { objectMode: false },
  );
}

/** Listing restarts from scratch on a transient failure, skipping keys already yielded. */
async function* listRetrying(remote: Remote, prefix: string, opts: RetryOptions): AsyncIterable<ObjectInfo> {
  const seen = new Set<string>();
  let attempt = 0;
  for (;;) {
    try {
      for await (const info of remote.list(prefix)) {
        if (seen.has(info.key)) continue;
        seen.add(info.key);
        yield info;
      }
      return;
    } catch (error) {
      if (attempt >= (opts.retries ?? 6) || !isRetryable(error)) throw error;
      attempt++;
      await new Promise((res) => setTimeout(res, Math.min(opts.maxDelayMs ?? 10_000, (opts.baseDelayMs ?? 100) * 2 ** attempt)));
    }
  }
}
