import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { status } from '../api/status.js';

export default class Status extends CkptCommand {
  static override description = 'List pointer files and the state of their data: ok, data-missing, modified, not-in-store; with --remote, whether it is pushed.';
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'also check this remote (name or URL)' }),
    quick: Flags.boolean({ description: 'trust size and mtime: report changed stat as modified without re-reading the data', default: false }),
  };

  async run() {
    const { flags } = await this.parse(Status);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await status({ repo, remote: flags.remote, rehash: !flags.quick, onWarning: (w) => this.warnings.push(w) });
    this.emit(flags.json, r, (rows) => {
      if (rows.length === 0) this.log('no pointer files');
      for (const e of rows) this.log(`${e.state.padEnd(15)} ${e.pushed === null ? '' : e.pushed ? 'pushed     ' : 'not pushed '}${e.pointer}${e.name ? ` (${e.name})` : ''}${e.detail ? `: ${e.detail}` : ''}`);
    });
  }
}
