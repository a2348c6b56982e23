import { Flags } from '@oclif/core';
import { CkptCommand } from '../../cli/base.js';
import { lfsInstall } from '../../api/lfs-install.js';

export default class LfsInstall extends CkptCommand {
  static override description =
    'Make git-lfs in this git repository store its objects on a ckptsync remote, deduplicated by chunk (a standalone custom transfer agent). LFS pointers are unchanged.';
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'ckptsync remote URL or directory for the LFS objects' }),
    uninstall: Flags.boolean({ description: 'remove the transfer agent settings again', default: false }),
  };

  async run() {
    const { flags } = await this.parse(LfsInstall);
    this.setJson(flags.json);
    if (!flags.uninstall && !flags.remote) this.error('--remote is required', { exit: 2 });
    const r = await lfsInstall({ cwd: flags.dir ?? process.cwd(), remote: flags.remote ?? '', uninstall: flags.uninstall });
    this.emit(flags.json, r, (x) =>
      this.log(flags.uninstall ? `git-lfs in ${x.gitRoot} no longer uses ckptsync` : `git-lfs in ${x.gitRoot} now stores objects on ${x.remote} through ckptsync`),
    );
  }
}
