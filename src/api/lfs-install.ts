// lfs install: make git-lfs in this git repository move LFS objects through ckptsync (as a standalone
// custom transfer agent) to a ckptsync remote. Pointers and .gitattributes stay exactly as they are.

import { gitTopLevel, git, selfCommand, shQuote } from '../git/git.js';
import { schemeOf } from '../remote/registry.js';
import { redactSecrets } from '../errors.js';

export const LFS_AGENT_NAME = 'ckptsync';

export interface LfsInstallOptions {
  /** Any directory inside the git work tree. */
  cwd: string;
  /** The ckptsync remote URL (or directory) that stores the LFS objects. */
  remote: string;
  /** Remove the settings instead. */
  uninstall?: boolean;
}

export interface LfsInstallResult {
  gitRoot: string;
  remote?: string;
  settings: Record<string, string>;
}

export async function lfsInstall(opts: LfsInstallOptions): Promise<LfsInstallResult> {
  const root = await gitTopLevel(opts.cwd);
  const key = `lfs.customtransfer.${LFS_AGENT_NAME}`;
  if (opts.uninstall) {
    for (const k of ['lfs.standalonetransferagent', `${key}.path`, `${key}.args`, `${key}.concurrent`]) {
      await git(['config', '--local', '--unset-all', k], { cwd: root }).catch(() => {});
    }
    return { gitRoot: root, settings: {} };
  }
  schemeOf(opts.remote); // validates
  const [node, bin] = selfCommand();
  const settings: Record<string, string> = {
    'lfs.standalonetransferagent': LFS_AGENT_NAME,
    [`${key}.path`]: node,
    [`${key}.args`]: [bin, 'lfs', 'agent', '--remote', opts.remote].map(shQuote).join(' '),
    // One agent process per git-lfs command: each object's chunks already move in parallel.
    [`${key}.concurrent`]: 'false',
  };
  for (const [k, v] of Object.entries(settings)) await git(['config', '--local', k, v], { cwd: root });
  return { gitRoot: root, remote: redactSecrets(opts.remote), settings };
}
