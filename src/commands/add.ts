import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes, ProgressLine } from '../cli/progress.js';
import { add } from '../api/add.js';
import { DEFAULT_CHUNKER } from '../core/chunker.js';

export default class Add extends CkptCommand {
  static override description = 'Snapshot a checkpoint file or directory into the local store and write PATH.ckpt, a pointer file to commit to git.';
  static override args = { path: Args.string({ required: true, description: 'checkpoint file or directory' }) };
  static override flags = {
    name: Flags.string({ description: 'name to give it (default: its path relative to the repository root)' }),
    'no-pointer': Flags.boolean({ description: 'do not write PATH.ckpt nor touch .gitignore', default: false }),
    chunker: Flags.string({ description: 'auto: cut along tensors where the format is known (safetensors), FastCDC elsewhere; fastcdc: FastCDC everywhere', options: ['auto', 'fastcdc'], default: 'auto' }),
  };

  async run() {
    const { args, flags } = await this.parse(Add);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const bar = new ProgressLine(`add ${args.path}`);
    const r = await add({ repo, path: args.path, name: flags.name, pointer: !flags['no-pointer'], chunker: flags.chunker === 'fastcdc' ? DEFAULT_CHUNKER : 'auto', onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal, p.bytesDone - p.bytesNew) });
    bar.done();
    this.emit(flags.json, r, (x) =>
      this.log(`added ${x.name} -> ${x.manifest.slice(0, 16)}: ${formatBytes(x.bytes)} in ${x.chunks} chunks, ${formatBytes(x.bytesNew)} new (${x.chunksNew} chunks)${x.filesRead < x.files ? `, ${x.filesRead} of ${x.files} files read, the rest unchanged` : ''}${x.pointerPath ? `; pointer ${x.pointerPath}` : ''}`),
    );
  }
}
