// Bounded parallel work: the one loop behind every "at most N at a time" in ckptsync (chunk transfers,
// existence checks, verification).

import { CancelledError } from '../errors.js';

/**
 * Runs fn over items with at most `limit` in flight. Stops starting new work at the first failure
 * (or when signal aborts), waits for what is in flight, then throws that failure.
 */
export async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const worker = async () => {
    while (failure === null && next < items.length) {
      if (signal?.aborted) {
        failure ??= new CancelledError();
        return;
      }
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw failure;
}
