import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes, ProgressLine } from '../cli/progress.js';
import { pull } from '../api/pull.js';
import { onInterrupt } from '../cli/signals.js';

export default class Pull extends CkptCommand {
  static override description = 'Download a checkpoint (remote name or pointer file): only chunks missing locally, verified, then write its files.';
  static override args = { target: Args.string({ required: true, description: 'remote name, PATH.ckpt, or added PATH' }) };
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    to: Flags.string({ description: 'where to write the files (default: beside the pointer, or the name under the repository root)' }),
    'no-checkout': Flags.boolean({ description: 'only fetch into the local store', default: false }),
    'no-store': Flags.boolean({
      description: 'write the files and nothing else: no index of the chunks they hold (by default later pulls, checkouts and pushes read unchanged chunks from them)',
      default: false,
      exclusive: ['keep-copy'],
    }),
    'keep-copy': Flags.boolean({
      description: 'also keep a copy of every chunk in the local store, which survives changes to the files (twice the disk)',
      default: false,
    }),
    force: Flags.boolean({ description: 'replace files at the destination even when they were changed locally', default: false }),
    include: Flags.string({ description: 'only the files of a directory checkpoint matching GLOB (repeatable; * ? **, a glob without / matches the base name)', multiple: true }),
    tensors: Flags.string({ description: 'write to --to a safetensors file of only the tensors whose names match GLOB (repeatable), downloading only the chunks that cover them', multiple: true }),
    jobs: Flags.integer({ char: 'j', description: 'parallel transfers (default: per remote type)', min: 1, max: 256 }),
  };

  async run() {
    const { args, flags } = await this.parse(Pull);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const bar = new ProgressLine(`pull ${args.target}`);
    const started = Date.now();
    const r = await pull({ repo, target: args.target, remote: flags.remote, to: flags.to, noCheckout: flags['no-checkout'], store: flags['no-store'] ? 'none' : flags['keep-copy'] ? 'copy' : 'files', force: flags.force, include: flags.include, tensors: flags.tensors, concurrency: flags.jobs, onProgress: bar.transfer, signal: onInterrupt() });
    bar.done();
    const secs = (Date.now() - started) / 1000;
    this.emit(flags.json, { ...r, seconds: secs }, (x) =>
      this.log(`pulled ${x.name ?? x.manifest.slice(0, 16)}${partialNote(x.partial)}: downloaded ${formatBytes(x.bytesDownloaded)} (${x.chunksDownloaded} of ${x.chunksTotal} chunks), ${formatBytes(x.bytesTotal - x.bytesDownloaded)} already here${x.bytesSeeded ? ` (${formatBytes(x.bytesSeeded)} of it from the old file)` : ''}, in ${secs.toFixed(1)}s${x.path ? `; wrote ${x.path}` : ''}`),
    );
  }
}

function partialNote(p: { files: number; filesTotal: number; tensors?: number; tensorsTotal?: number } | undefined): string {
  if (!p) return '';
  return p.tensors !== undefined ? ` (${p.tensors} of ${p.tensorsTotal} tensors)` : ` (${p.files} of ${p.filesTotal} files)`;
}
