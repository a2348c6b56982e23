import { Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { IntegrityError } from '../errors.js';
import { verify } from '../api/verify.js';

export default class Verify extends CkptCommand {
  static override description = 'Re-hash the local store; with --remote, check the remote holds every chunk its manifests name.';
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'check this remote (name or URL) instead' }),
    deep: Flags.boolean({ description: 'with --remote: download every chunk and check its hash', default: false }),
  };

  async run() {
    const { flags } = await this.parse(Verify);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const r = await verify({ repo, remote: flags.remote, deep: flags.deep });
    if (flags.json) this.emit(true, r, () => {});
    else {
      for (const p of r.problems) this.log(`${p.kind} ${p.object}: ${p.detail}`);
      const elsewhere = [r.inFiles ? `${r.inFiles} more in pulled files` : '', r.remoteOnly ? `${r.remoteOnly} only on the remote` : ''].filter(Boolean).join(', ');
      this.log(`${r.where}: ${r.chunks} chunks${elsewhere ? ` (${elsewhere})` : ''}, ${r.manifests} manifests, ${r.names} names: ${r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`}`);
    }
    if (r.problems.length) throw new IntegrityError(`verify found ${r.problems.length} problem(s) in ${r.where}`);
  }
}
