// A wrapper that retries transient failures with exponential backoff and jitter
// (restic's backend/retry). Uploads restart from a fresh stream because sources are replayable.

import { isRetryable, TransientError } from '../errors.js';
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
    get: (key: string, range?: ByteRange) => r('get', key, () => remote.get(key, range)),
    list: (prefix: string) => listRetrying(remote, prefix, opts),
    delete: (key) => r('delete', key, () => remote.delete(key)),
    readDocument: (key) => r('readDocument', key, () => remote.readDocument(key)),
    swapDocument: (key, data, expected) => r('swapDocument', key, () => remote.swapDocument(key, data, expected)),
    close: () => remote.close(),
  };
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
