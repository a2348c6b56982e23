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
export async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, opts: BoundedOptions<T> = {}): Promise<void> {
  const { signal, weigh, maxWeight = Infinity } = opts;
  let next = 0;
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
    while (failure === null && next < items.length) {
      if (signal?.aborted) {
        failure ??= new CancelledError();
        return;
      }
      const item = items[next++]!;
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
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw failure;
}
