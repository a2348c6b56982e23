import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { latest } from '../api/latest.js';

export default class Latest extends CkptCommand {
  static override description =
    'Print the newest periodic checkpoint (PREFIX followed by the largest number, e.g. epoch_100, ckpt-000200.safetensors): on --remote, among files when PREFIX is a path in a directory, else among local names.';
  static override args = { prefix: Args.string({ required: true, description: 'name or path prefix, e.g. runs/a/epoch_' }) };
  static override flags = { remote: Flags.string({ char: 'r', description: 'look at this remote\'s names (name or URL)' }) };

  async run() {
    const { args, flags } = await this.parse(Latest);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir).catch(() => null);
    const r = await latest({ prefix: args.prefix, repo, remote: flags.remote });
    this.emit(flags.json, r, (x) => this.log(x.name));
  }
}
