import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { install } from '../api/install.js';

export default class Install extends CkptCommand {
  static override description =
    'Install git hooks in this repository: git push first pushes the checkpoint data its commits point to; with --checkout, checkout and pull materialize changed pointers. Existing hooks keep running (chained). Undo with uninstall.';
  static override flags = {
    checkout: Flags.boolean({ description: 'also materialize changed pointers after git checkout / pull (can move a lot of data)', default: false }),
    remote: Flags.string({ char: 'r', description: 'remote the hooks push to and pull from (default: the default remote)' }),
  };

  async run() {
    const { flags } = await this.parse(Install);
    this.setJson(flags.json);
    const r = await install({ cwd: flags.dir ?? process.cwd(), checkout: flags.checkout, remote: flags.remote });
    this.emit(flags.json, r, (x) => {
      for (const h of x.hooks) this.log(`installed ${h.hook}${h.chained ? ` (runs the existing hook first: ${h.chained})` : ''}`);
    });
  }
}
