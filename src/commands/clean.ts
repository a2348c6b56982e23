import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { clean } from '../api/clean.js';

export default class Clean extends CkptCommand {
  static override description = 'Free disk: drop local chunks that the remote holds under a name (pull brings them back). Working files and pointers are not touched.';
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    'dry-run': Flags.boolean({ char: 'n', description: 'count what would be dropped', default: false }),
  };

  async run() {
    const { flags } = await this.parse(Clean);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const { warnings, ...r } = await clean({ repo, remote: flags.remote, dryRun: flags['dry-run'] });
    this.warnings.push(...warnings);
    this.emit(flags.json, r, (x) => this.log(`${x.dryRun ? 'would drop' : 'dropped'} ${x.chunksRemoved} chunks (${formatBytes(x.bytesFreed)}); kept ${x.chunksKept} the remote does not hold`));
  }
}
