// Choosing part of a snapshot: the files of a directory checkpoint that match globs (`pull --include`),
// for a rank that takes only its own shards (manifest-spec.md §10d).

import { UsageError } from '../errors.js';
import { globMatcher } from './glob.js';
import type { Manifest } from './manifest.js';

/**
 * The directory manifest holding only the files that match one of `globs` (core/glob.ts: * and ? within a
 * segment, ** across; a glob without "/" matches the base name). Refuses a single-file snapshot, and a
 * selection that matches nothing, naming the globs.
 */
export function selectFiles(manifest: Manifest, globs: readonly string[], what: string): Manifest {
  if (manifest.type !== 'dir') throw new UsageError(`--include chooses files of a directory checkpoint; ${what} is a single file`);
  const matchers = globs.map(globMatcher);
  const files = manifest.files.filter((f) => matchers.some((m) => m(f.path)));
  if (!files.length) {
    throw new UsageError(`--include ${globs.map((g) => JSON.stringify(g)).join(' ')} matches none of the ${manifest.files.length} files of ${what}`);
  }
  return { ...manifest, files };
}
