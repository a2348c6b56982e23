// Bounded parallel work with progress and cancellation: the shape of every chunk transfer.

import { CancelledError } from '../errors.js';

export interface TransferProgress {
  phase: 'upload' | 'download';
  /** Bytes moved over the network so far. */
  bytesMoved: number;
  /** Bytes that will move in all. */
  bytesToMove: number;
  /** Bytes not moved because the other side already had them. */
  bytesSkipped: number;
  objectsMoved: number;
  objectsToMove: number;
}

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
