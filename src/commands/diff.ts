import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { diff } from '../api/diff.js';

export default class Diff extends CkptCommand {
  static override description = 'Compare two checkpoints: files added, removed and changed, bytes shared and unique, and which safetensors tensors changed.';
  static override args = {
    a: Args.string({ required: true, description: 'name, PATH.ckpt, or added PATH' }),
    b: Args.string({ required: true, description: 'name, PATH.ckpt, or added PATH' }),
  };
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'look up names not known locally on this remote' }),
    'no-tensors': Flags.boolean({ description: 'do not compare safetensors tensors (no chunk reads)', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(Diff);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir).catch(() => null);
    const r = await diff({ a: args.a, b: args.b, repo, remote: flags.remote, tensors: !flags['no-tensors'] });
    this.emit(flags.json, r, (x) => {
      for (const p of x.added) this.log(`added    ${p}`);
      for (const p of x.removed) this.log(`removed  ${p}`);
      for (const c of x.changed) {
        this.log(`changed  ${c.path} (${formatBytes(c.sizeA)} -> ${formatBytes(c.sizeB)}, ${formatBytes(c.bytesShared)} shared)`);
        if (c.tensors) this.log(`         tensors: ${c.tensors.changed.length} changed, ${c.tensors.added.length} added, ${c.tensors.removed.length} removed, ${c.tensors.unchanged} unchanged` + (c.tensors.changed.length ? `: ${c.tensors.changed.slice(0, 20).join(', ')}` : ''));
      }
      const b = x.bytes;
      this.log(`${x.unchanged} files unchanged; ${formatBytes(b.shared)} shared, ${formatBytes(b.uniqueA)} only in ${x.a}, ${formatBytes(b.uniqueB)} only in ${x.b}`);
    });
  }
}
