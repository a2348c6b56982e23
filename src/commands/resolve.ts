import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { resolveCheckpointInfo } from '../api/resolve.js';

export default class Resolve extends CkptCommand {
  static override description = 'Print the local path of a checkpoint: an absolute path as is, or a pointer file or name materialized in the shared cache (downloaded once).';
  static override args = { id: Args.string({ required: true, description: 'absolute path, PATH.ckpt, or checkpoint name' }) };
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    cache: Flags.string({ description: 'cache directory (default: $CKPTSYNC_CACHE, the cacheDir setting, or ~/.cache/ckptsync)' }),
    offline: Flags.boolean({ description: 'never touch the network (also CKPTSYNC_OFFLINE=1)', default: false }),
    jobs: Flags.integer({ char: 'j', description: 'parallel downloads', min: 1, max: 256 }),
  };

  async run() {
    const { args, flags } = await this.parse(Resolve);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir).catch(() => null); // resolve works outside a repository too
    const r = await resolveCheckpointInfo(args.id, {
      repo,
      remote: flags.remote,
      cacheDir: flags.cache,
      offline: flags.offline || undefined,
      concurrency: flags.jobs,
    });
    this.warnings.push(...r.warnings);
    this.emit(flags.json, r, (x) => this.log(x.path));
  }
}
