import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes, ProgressLine } from '../cli/progress.js';
import { checkout } from '../api/checkout.js';

export default class Checkout extends CkptCommand {
  static override description = 'Write a checkpoint\'s files from the local store (verified): a pointer file, an added path, or a name.';
  static override args = { target: Args.string({ required: true, description: 'PATH.ckpt, added PATH, or name' }) };
  static override flags = {
    to: Flags.string({ description: 'where to write (default: beside the pointer, or the name under the repository root)' }),
    force: Flags.boolean({ description: 'replace files at the destination even when they were changed locally', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(Checkout);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const bar = new ProgressLine(`checkout ${args.target}`);
    const r = await checkout({ repo, target: args.target, to: flags.to, force: flags.force, onProgress: (d, t) => bar.update(d, t) });
    bar.done();
    this.emit(flags.json, r, (x) => this.log(`wrote ${x.path}: ${x.files} file(s), ${formatBytes(x.bytes)}`));
  }
}
