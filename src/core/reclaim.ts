// Collecting short-lived Buffers by bytes moved rather than by objects allocated.
//
// A Buffer's bytes live outside V8's heap; V8 frees them when it collects the small object that owns
// them. Its young generation fills by object count, and its trigger for outside memory is a rise of
// 64 MiB since the last full collection, so a driver that makes a fresh Buffer per network packet
// (ssh2 deciphers each SFTP packet into a new one) piles up tens of MiB of dead packets between
// collections. A minor collection every few MiB moved frees them while they are still few.

import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: Gc | null | undefined;

function collector(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    // The usual way to reach V8's gc() without starting Node with --expose-gc: a context made after
    // the flag is set gets it; the flag changes nothing else.
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as Gc;
  } catch {
    gc = null;
  }
  return gc;
}

/**
 * Returns a counter of bytes moved that runs a minor collection each time `every` more bytes have
 * passed. Without access to gc() the counter does nothing.
 */
export function minorCollectionEvery(every: number): (bytes: number) => void {
  const run = collector();
  if (!run || process.env.CKPTSYNC_RECLAIM === '0') return () => {};
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < every) return;
    since = 0;
    run({ type: 'minor' });
  };
}
