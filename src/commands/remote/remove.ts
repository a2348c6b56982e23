import { Args } from '@oclif/core';
import { CkptCommand } from '../../cli/base.js';
import { removeRemote } from '../../api/remotes.js';

export default class RemoteRemove extends CkptCommand {
  static override description = 'Remove a configured remote (its data stays where it is).';
  static override args = { name: Args.string({ required: true }) };

  async run() {
    const { args, flags } = await this.parse(RemoteRemove);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    await removeRemote({ repo, name: args.name });
    this.emit(flags.json, { removed: args.name }, (x) => this.log(`removed remote ${x.removed}`));
  }
}
