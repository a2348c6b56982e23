import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes, ProgressLine } from '../cli/progress.js';
import { push } from '../api/push.js';
import { pushPart } from '../api/parts.js';
import { parsePartSpec } from '../sync/part-records.js';
import { UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import { onInterrupt } from '../cli/signals.js';

export default class Push extends CkptCommand {
  static override description = 'Upload a checkpoint (name, pointer file or added path): only the chunks the remote lacks, then its manifest, then move the name.';
  static override args = { target: Args.string({ required: true, description: 'name, PATH.ckpt, or added PATH' }) };
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    as: Flags.string({ aliases: ['name'], description: 'name to push as on the remote (default: its local name); --name is the same' }),
    part: Flags.string({
      description: 'K/M: TARGET is the directory this machine holds of a sharded checkpoint, pushed as part K (from 0) of M of --as NAME; the name moves once all M parts are there',
    }),
    attempt: Flags.string({ description: 'with --part: the id all parts of this save share (default: $CKPTSYNC_ATTEMPT, the launcher\'s run id, else 0)' }),
    force: Flags.boolean({ description: 'move the name even if another writer moved it meanwhile', default: false }),
    jobs: Flags.integer({ char: 'j', description: 'parallel transfers (default: per remote type)', min: 1, max: 256 }),
    deltas: Flags.boolean({
      description: 'send a changed chunk as a delta against the remote\'s previous version of it when that is smaller (--no-deltas: always whole)',
      default: true,
      allowNo: true,
    }),
    packs: Flags.boolean({
      description: 'send runs of small new chunks (files of up to 256 KiB) in packs of about 4 MiB, one request each (--no-packs: each chunk whole, readable by ckptsync before remote layout 3)',
      default: true,
      allowNo: true,
    }),
    'from-file': Flags.boolean({
      description:
        'TARGET is a file or directory: chunk it and upload straight from it, storing only its manifest locally (for machines short on disk). Writes PATH.ckpt like add, but sets no local name; pull PATH.ckpt brings the data back',
      default: false,
    }),
  };
  static override examples = ['<%= config.bin %> push checkpoints/epoch-10.safetensors', '<%= config.bin %> push checkpoints/epoch-10.safetensors --from-file --as run1/epoch-10'];

  async run() {
    const { args, flags } = await this.parse(Push);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir);
    const bar = new ProgressLine(`push ${args.target}`);
    const signal = onInterrupt();
    const started = Date.now();
    if (flags.part !== undefined) return this.pushPart(repo, args.target, flags, bar, signal, started);
    const r = await push({ repo, target: args.target, remote: flags.remote, as: flags.as, force: flags.force, concurrency: flags.jobs, fromFile: flags['from-file'], deltas: flags.deltas, packs: flags.packs, onProgress: bar.transfer, signal });
    bar.done();
    const secs = (Date.now() - started) / 1000;
    const { warnings, ...result } = r;
    this.warnings.push(...warnings);
    this.emit(flags.json, { ...result, seconds: secs }, (x) =>
      this.log(
        x.chunksUploaded === 0 && !x.changed
          ? `${x.name} is up to date on the remote`
          : `pushed ${x.name}: uploaded ${formatBytes(x.bytesUploaded)} (${x.chunksUploaded} of ${x.chunksTotal} chunks${x.chunksAsDeltas ? `, ${x.chunksAsDeltas} as deltas` : ''}), ${formatBytes(x.bytesAlreadyThere)} already there, in ${secs.toFixed(1)}s`,
      ),
    );
  }

  /** One part of a sharded checkpoint (manifest-spec.md §8b). */
  private async pushPart(repo: Repository, target: string, flags: { json: boolean; remote?: string; as?: string; part?: string; attempt?: string; force: boolean; jobs?: number; deltas: boolean; packs: boolean }, bar: ProgressLine, signal: AbortSignal, started: number) {
    if (!flags.as) throw new UsageError('--part needs the version\'s name: --as NAME (or --name NAME)');
    const { part, parts } = parsePartSpec(flags.part!);
    const r = await pushPart({ path: target, name: flags.as, part, parts, attempt: flags.attempt, repo, remote: flags.remote, force: flags.force, concurrency: flags.jobs, deltas: flags.deltas, packs: flags.packs, onProgress: bar.transfer, signal });
    bar.done();
    const secs = (Date.now() - started) / 1000;
    const { warnings, ...result } = r;
    this.warnings.push(...warnings);
    this.emit(flags.json, { ...result, seconds: secs }, (x) =>
      this.log(
        `pushed part ${x.part} of ${x.parts} of ${x.name} (attempt ${x.attempt}): uploaded ${formatBytes(x.bytesUploaded)}, ${formatBytes(x.bytesAlreadyThere)} already there, in ${secs.toFixed(1)}s; ` +
          (x.complete ? (x.changed ? `all parts are there: ${x.name} now points at ${x.manifest}` : `all parts are there; ${x.name} already pointed at ${x.manifest}`) : `waiting for part${x.waitingFor.length > 1 ? 's' : ''} ${x.waitingFor.join(', ')}`),
      ),
    );
  }
}
