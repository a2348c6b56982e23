import { UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { pushSnapshot, type PushResult } from '../sync/push.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';
import { resolveTarget } from './target.js';

export interface PushOptions {
  repo: Repository;
  /** A name, a pointer file, or an added path. */
  target: string;
  /** A configured remote's name, a URL, or an open Remote; defaults to the default remote. */
  remote?: string | Remote;
  /** The remote name to push as (defaults to the local name). */
  as?: string;
  force?: boolean;
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export async function push(opts: PushOptions): Promise<PushResult> {
  const t = await resolveTarget(opts.repo, opts.target);
  const name = opts.as ?? t.name;
  if (!name) throw new UsageError(`${opts.target} has no name; pass one with --as`);
  const { remote, owned } = await openRemoteFor(opts.repo, opts.remote);
  try {
    return await pushSnapshot(opts.repo, remote, name, t.manifest!, opts);
  } finally {
    if (owned) await remote.close();
  }
}
