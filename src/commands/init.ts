import { CkptCommand } from '../cli/base.js';
import { init } from '../api/init.js';

export default class Init extends CkptCommand {
  static override description = 'Create a ckptsync repository (.ckptsync/) in the current directory.';

  async run() {
    const { flags } = await this.parse(Init);
    const r = await init({ dir: flags.dir });
    this.emit(flags.json, r, (x) => this.log(x.created ? `Initialized ckptsync repository in ${x.root}/.ckptsync` : `Repository already exists in ${x.root}/.ckptsync`));
  }
}
