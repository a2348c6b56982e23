import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { commitParts } from '../api/parts.js';

export default class Commit extends CkptCommand {
  static override description =
    'Finish a sharded checkpoint pushed with push --part: once all M parts are on the remote, merge them into one version and move the name (exit 11 naming the missing parts otherwise).';
  static override args = { name: Args.string({ required: true, description: 'the version\'s name' }) };
  static override flags = {
    parts: Flags.integer({ required: true, min: 1, max: 100000, description: 'how many parts the version has (M of push --part K/M)' }),
    attempt: Flags.string({ description: 'the id the parts were pushed with (default: $CKPTSYNC_ATTEMPT, the launcher\'s run id, else 0)' }),
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    force: Flags.boolean({ description: 'move the name even if another writer moved it meanwhile', default: false }),
  };
  static override examples = ['<%= config.bin %> commit run1/step-1000 --parts 8'];

  async run() {
    const { args, flags } = await this.parse(Commit);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await commitParts({ repo, name: args.name, parts: flags.parts, attempt: flags.attempt, remote: flags.remote, force: flags.force });
    const { warnings, ...result } = r;
    this.warnings.push(...warnings);
    this.emit(flags.json, result, (x) => this.log(x.changed ? `${x.name} now points at ${x.manifest} (${x.parts} parts)` : `${x.name} already pointed at ${x.manifest} (${x.parts} parts)`));
  }
}
