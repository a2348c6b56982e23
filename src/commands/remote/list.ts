import { CkptCommand } from '../../cli/base.js';
import { listRemotes } from '../../api/remotes.js';

export default class RemoteList extends CkptCommand {
  static override description = 'List the configured remotes (secrets are never shown).';

  async run() {
    const { flags } = await this.parse(RemoteList);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await listRemotes({ repo });
    this.emit(flags.json, r, (rows) => {
      for (const x of rows) this.log(`${x.isDefault ? '*' : ' '} ${x.name}\t${x.url}`);
    });
  }
}
