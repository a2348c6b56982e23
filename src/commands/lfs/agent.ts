import fs from 'node:fs';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { CkptCommand } from '../../cli/base.js';
import { openRemoteFor } from '../../api/remote.js';
import { gitPath } from '../../git/git.js';
import { runLfsAgent } from '../../lfs/agent.js';

export default class LfsAgent extends CkptCommand {
  static override description = 'The git-lfs custom transfer agent (started by git-lfs, not by hand; see `ckptsync lfs install`). Speaks JSON lines on stdin/stdout.';
  static override hidden = true;
  static override flags = {
    remote: Flags.string({ char: 'r', required: true, description: 'ckptsync remote URL or directory for the LFS objects' }),
    store: Flags.string({ description: 'local chunk store (default: .git/lfs/ckptsync)' }),
  };

  async run() {
    const { flags } = await this.parse(LfsAgent);
    const cwd = flags.dir ?? process.cwd();
    const storeDir = flags.store ?? (await gitPath(cwd, 'lfs/ckptsync'));
    // stdout is the protocol; a per-object record goes to CKPTSYNC_LFS_LOG (NDJSON) when set.
    const log = process.env.CKPTSYNC_LFS_LOG;
    await runLfsAgent({
      storeDir,
      openRemote: async ({ mayCreate }) => (await openRemoteFor(null, flags.remote, { mayCreate })).remote,
      input: process.stdin,
      output: process.stdout,
      onTransfer: log ? (s) => fs.appendFileSync(path.resolve(cwd, log), JSON.stringify(s) + '\n') : undefined,
    });
  }
}
