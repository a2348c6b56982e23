import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { prune } from '../api/prune.js';

export default class Prune extends CkptCommand {
  static override description =
    'Remove old periodic checkpoint names (PREFIX then a number), keeping the last N and every K-th: locally, on --remote, or both. Run gc / clean afterwards to free the space.';
  static override args = { prefix: Args.string({ required: false, description: 'only names starting with this, e.g. run1/epoch_' }) };
  static override flags = {
    'keep-last': Flags.integer({ description: 'keep the N highest-numbered', required: true, min: 0 }),
    'keep-every': Flags.integer({ description: 'also keep numbers that are multiples of K', min: 1 }),
    remote: Flags.string({ char: 'r', description: 'prune names on this remote (name or URL)' }),
    local: Flags.boolean({ description: 'prune local names (the default without --remote)', default: false }),
    'dry-run': Flags.boolean({ char: 'n', description: 'show what would be removed', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(Prune);
    this.setJson(flags.json);
    const local = flags.local || flags.remote === undefined;
    const repo = local ? await this.repo(flags.dir) : await this.repo(flags.dir).catch(() => null);
    const r = await prune({ prefix: args.prefix, keepLast: flags['keep-last'], keepEvery: flags['keep-every'], repo, local, remote: flags.remote, dryRun: flags['dry-run'] });
    this.emit(flags.json, r, (x) => {
      for (const n of x.removed) this.log(`${x.dryRun ? 'would remove' : 'removed'} ${n.name} (${n.where})`);
      this.log(`kept ${x.kept.length}, ${x.dryRun ? 'would remove' : 'removed'} ${x.removed.length}`);
    });
  }
}
