import { CkptCommand } from '../cli/base.js';
import { uninstall } from '../api/install.js';

export default class Uninstall extends CkptCommand {
  static override description = 'Remove the git hooks installed by `ckptsync install`, putting back any hooks they chained.';

  async run() {
    const { flags } = await this.parse(Uninstall);
    this.setJson(flags.json);
    const r = await uninstall({ cwd: flags.dir ?? process.cwd() });
    this.emit(flags.json, r, (x) => {
      if (x.hooks.length === 0) this.log('no ckptsync hooks installed');
      for (const h of x.hooks) this.log(`removed ${h.hook}${h.chained ? ` (restored the previous hook)` : ''}`);
    });
  }
}
