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
