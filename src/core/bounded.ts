// Bounded parallel work: the one loop behind every "at most N at a time" in ckptsync (chunk transfers,
// existence checks, verification).

import { CancelledError } from '../errors.js';

export interface BoundedOptions<T> {
  /** Stop starting new work once this aborts (the run then fails with CancelledError). */
  signal?: AbortSignal;
  /**
   * A second bound, on the sum of `weigh(item)` over the items in flight (chunk transfers weigh their
   * bytes): an item starts only when it fits under `maxWeight`, or when nothing else is in flight.
   */
  weigh?: (item: T) => number;
  maxWeight?: number;
}

/**
 * Runs fn over items with at most `limit` in flight (and at most `maxWeight` of weight, when given).
 * Stops starting new work at the first failure (or when signal aborts), waits for what is in flight,
 * then throws that failure.
 */
export async function runBounded<T>(items: readonly T[] | Iterable<T>, limit: number, fn: (item: T) => Promise<void>, opts: BoundedOptions<T> = {}): Promise<void> {
  const { signal, weigh, maxWeight = Infinity } = opts;
  // Items may come from a generator, so that a caller with 400,000 of them never holds them all.
  const source = items[Symbol.iterator]();
  let ahead = source.next();
  let failure: unknown = null;
  let held = 0;
  let wake: (() => void)[] = [];
  const acquire = async (w: number) => {
    while (held > 0 && held + w > maxWeight) await new Promise<void>((r) => wake.push(r));
    held += w;
  };
  const release = (w: number) => {
    held -= w;
    const waiting = wake;
    wake = [];
    for (const r of waiting) r();
  };
  const worker = async () => {
    while (failure === null && !ahead.done) {
      if (signal?.aborted) {
        failure ??= new CancelledError();
        return;
      }
      const item = ahead.value;
      ahead = source.next();
      const w = weigh ? weigh(item) : 0;
      await acquire(w);
      try {
        if (failure === null) await fn(item);
      } catch (e) {
        failure ??= e;
      } finally {
        release(w);
      }
    }
  };
  const count = Array.isArray(items) ? items.length : Infinity;
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  if (failure !== null) throw failure;
}
