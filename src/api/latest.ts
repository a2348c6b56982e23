// latest: the newest periodic checkpoint for auto-resume — among names (on a remote, in the repository)
// or files (when PREFIX is a path in an existing directory) matching PREFIX then a number, the largest.

import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../errors.js';
import { numbered } from '../core/numbered.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { directoryFiles, localNames, remoteNames } from './names.js';
import { openRemoteFor } from './remote.js';

export interface LatestOptions {
  prefix: string;
  repo?: Repository | null;
  /** Look at this remote's names; without it, files (PREFIX in an existing directory) or local names. */
  remote?: string | Remote;
}

export interface LatestResult {
  /** The name, or the file's path. */
  name: string;
  number: number;
  source: 'remote' | 'directory' | 'repository';
  /** How many candidates matched. */
  candidates: number;
}

export async function latest(opts: LatestOptions): Promise<LatestResult> {
  const { prefix } = opts;
  let source: LatestResult['source'];
  let names: string[];
  let stem = prefix;
  if (opts.remote !== undefined) {
    const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote);
    try {
      names = await remoteNames(remote, prefix);
      source = 'remote';
    } finally {
      if (owned) await remote.close();
    }
  } else if (await isDir(path.dirname(path.resolve(prefix))) && (prefix.includes('/') || !opts.repo)) {
    const dir = path.dirname(path.resolve(prefix));
    names = await directoryFiles(dir);
    stem = path.join(dir, path.basename(prefix));
    source = 'directory';
  } else {
    names = opts.repo ? await localNames(opts.repo) : [];
    source = 'repository';
  }
  const found = numbered(stem, names, (n) => n);
  const last = found.at(-1);
  if (!last) throw new NotFoundError(`no checkpoint matches ${prefix} followed by a number (looked in the ${source})`, { prefix });
  return { name: last.name, number: last.number, source, candidates: found.length };
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => null))?.isDirectory() ?? false;
}
