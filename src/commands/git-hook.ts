import { Args, Flags } from '@oclif/core';
import { CkptCommand } from '../cli/base.js';
import { formatBytes } from '../cli/progress.js';
import { gitHook } from '../api/git-hook.js';

export default class GitHook extends CkptCommand {
  static override description = 'Run by the git hooks that `ckptsync install` sets up (pre-push, post-checkout, post-merge); not for use by hand.';
  static override hidden = true;
  static override strict = false;
  static override args = { hook: Args.string({ required: true }) };
  static override flags = { remote: Flags.string({ char: 'r', description: 'ckptsync remote (default: the default remote)' }) };

  async run() {
    const { args, argv, flags } = await this.parse(GitHook);
    const hookArgs = (argv as string[]).slice(1);
    let stdin = '';
    if (args.hook === 'pre-push') for await (const part of process.stdin) stdin += part;
    const r = await gitHook({ cwd: flags.dir ?? process.cwd(), hook: args.hook, args: hookArgs, stdin, remote: flags.remote });
    // Hooks talk to the user through stderr; git shows it.
    for (const a of r) {
      const what = a.action === 'pushed' ? `pushed (${formatBytes(a.bytesUploaded ?? 0)} uploaded)` : a.action;
      process.stderr.write(`ckptsync: ${a.pointer}: ${what}${a.detail ? `: ${a.detail}` : ''}\n`);
    }
  }
}
