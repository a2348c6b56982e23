import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { parseDuration } from '../cli/duration.js';
import { onInterrupt } from '../cli/signals.js';
import { watch } from '../api/watch.js';

export default class Watch extends CkptCommand {
  static override description =
    'Upload each new checkpoint in DIR once it is complete (stable size, closed, or renamed into place), under a name from --name. SIGINT/SIGTERM finish the upload in flight and exit; a restart uploads what was missed.';
  static override args = { dir: Args.string({ required: true, description: 'directory the training writes checkpoints to' }) };
  static override flags = {
    remote: Flags.string({ char: 'r', description: 'remote name or URL (default: the default remote)' }),
    pattern: Flags.string({ description: 'glob of files to upload, relative to DIR', default: '*' }),
    name: Flags.string({ description: 'remote name template: {name} {stem} {ext} {path} {dir}', default: '{name}' }),
    stable: Flags.string({ description: 'how long a file must stay unchanged to count as complete', default: '2s' }),
    poll: Flags.string({ description: 'how often to look at DIR (default: a quarter of --stable, at most 500ms)' }),
    once: Flags.boolean({ description: 'upload what is complete now, then exit', default: false }),
  };

  async run() {
    const { args, flags } = await this.parse(Watch);
    this.setJson(flags.json);
    const repo = await this.repo(flags.dir).catch(() => null);
    const r = await watch({
      dir: args.dir,
      remote: flags.remote,
      repo,
      pattern: flags.pattern,
      nameTemplate: flags.name,
      stableMs: parseDuration(flags.stable),
      pollMs: flags.poll === undefined ? undefined : parseDuration(flags.poll),
      once: flags.once,
      signal: onInterrupt(),
      // Long-running: one NDJSON event per upload with --json, then the envelope.
      onEvent: (e) => {
        if (flags.json) process.stdout.write(JSON.stringify({ event: e.type, ...e }) + '\n');
        else if (e.type === 'uploaded') this.log(`uploaded ${e.file} as ${e.name} (${formatBytes(e.bytesUploaded)} new of ${formatBytes(e.bytes)})`);
        else this.warn(`${e.file}: ${e.error}${e.willRetry ? ' (will retry)' : ' (giving up until it changes)'}`);
      },
    });
    this.emit(flags.json, r, (x) => this.log(`uploaded ${x.uploaded}, failed ${x.failed}, pending ${x.pending}`));
  }
}
