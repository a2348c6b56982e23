import path from 'node:path';
import { loadManifest } from '../sync/manifests.js';
import { materialize } from '../core/materialize.js';
import type { Repository } from '../core/repo.js';
import { resolveTarget } from './target.js';

export interface CheckoutOptions {
  repo: Repository;
  /** A pointer file, an added path, or a name. */
  target: string;
  /** Where to write; defaults to the pointer's data path or the name under the repository root. */
  to?: string;
  onProgress?: (done: number, total: number) => void;
}

export async function checkout(opts: CheckoutOptions): Promise<{ name?: string; manifest: string; path: string; files: number; bytes: number }> {
  const t = await resolveTarget(opts.repo, opts.target);
  const manifest = await loadManifest(opts.repo, t.manifest!);
  const dest = path.resolve(opts.to ?? t.dataPath ?? path.join(opts.repo.root, ...t.name!.split('/')));
  const r = await materialize(opts.repo.store, manifest, dest, { onProgress: opts.onProgress });
  return { name: t.name, manifest: t.manifest!, path: dest, ...r };
}
