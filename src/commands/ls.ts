import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { ls } from '../api/ls.js';

export default class Ls extends CkptCommand {
  static override description = 'List checkpoint names (local, or on --remote) with sizes and bytes shared with other versions.';
  static override args = { prefix: Args.string({ required: false, description: 'only names starting with this' }) };
  static override flags = { remote: Flags.string({ char: 'r', description: 'list this remote (name or URL) instead' }) };

  async run() {
    const { args, flags } = await this.parse(Ls);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await ls({ repo, remote: flags.remote, prefix: args.prefix, onWarning: (w) => this.warnings.push(w) });
    this.emit(flags.json, r, (rows) => {
      if (rows.length === 0) return this.log('no checkpoints');
      const w = Math.max(4, ...rows.map((x) => x.name.length));
      this.log(`${'NAME'.padEnd(w)}  ${'SIZE'.padStart(10)}  ${'SHARED'.padStart(10)}  MANIFEST          UPDATED`);
      for (const x of rows) {
        // A version pushed in parts that is not whole yet has no manifest: say what it waits for.
        const what = !x.incomplete
          ? x.manifest.slice(0, 16)
          : x.incomplete.waitingFor.length === 0
            ? `complete: attempt ${x.incomplete.attempt} has all ${x.incomplete.parts} parts, the name has not moved (commit ${x.name} --parts ${x.incomplete.parts} --attempt ${x.incomplete.attempt})`
            : `incomplete: attempt ${x.incomplete.attempt} waits for part${x.incomplete.waitingFor.length > 1 ? 's' : ''} ${x.incomplete.waitingFor.join(', ')} of ${x.incomplete.parts}`;
        this.log(`${x.name.padEnd(w)}  ${formatBytes(x.bytes).padStart(10)}  ${formatBytes(x.sharedBytes).padStart(10)}  ${what}  ${x.updated}`);
      }
    });
  }
}
