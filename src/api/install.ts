// install / uninstall: git hooks that push checkpoint data before git pushes commits, and (opt-in)
// materialize changed pointers after checkout and merge. Existing hooks are chained, never overwritten.

import { CHECKOUT_HOOKS, installHooks, PUSH_HOOKS, uninstallHooks, type HookChange } from '../git/hooks.js';

export interface InstallOptions {
  /** Any directory in the git work tree. */
  cwd: string;
  /** Also materialize changed pointers on checkout and merge (off by default: data can be large). */
  checkout?: boolean;
  /** The ckptsync remote the hooks use (default: the repository's default remote at hook time). */
  remote?: string;
}

export async function install(opts: InstallOptions): Promise<{ gitRoot: string; hooks: HookChange[] }> {
  const hooks = opts.checkout ? [...PUSH_HOOKS, ...CHECKOUT_HOOKS] : [...PUSH_HOOKS];
  const r = await installHooks(opts.cwd, hooks, opts.remote ? ['--remote', opts.remote] : []);
  return { gitRoot: r.gitRoot, hooks: r.installed };
}

/** Removes every ckptsync hook and puts back the hooks they chained. */
export async function uninstall(opts: { cwd: string }): Promise<{ gitRoot: string; hooks: HookChange[] }> {
  const r = await uninstallHooks(opts.cwd, [...PUSH_HOOKS, ...CHECKOUT_HOOKS]);
  return { gitRoot: r.gitRoot, hooks: r.removed };
}
