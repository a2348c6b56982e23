// Progress of a chunk transfer; the bounded loop that runs it lives in core/bounded.ts.

export { runBounded } from '../core/bounded.js';

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
 * Chunk bytes a transfer holds in flight at most, whatever the driver's concurrency: with 1 MiB chunks
 * a driver's 16 requests hold 16 MiB, and 4 MiB chunks (the tensor-aware default, manifest-spec.md §2.5)
 * must not hold four times as much, or a pull's peak memory grows with them.
 */
export const TRANSFER_BYTES_IN_FLIGHT = 16 << 20;
