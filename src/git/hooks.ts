// Installing git hooks that call ckptsync, chaining whatever hook was there before: an existing hook
// is moved aside to <hook>.pre-ckptsync and run first by ours with the same arguments and stdin;
// uninstall moves it back. Hooks are small sh scripts carrying a marker line so we know our own.

import fs from 'node:fs/promises';
import path from 'node:path';
import { gitPath, gitTopLevel, selfCommand, shQuote } from './git.js';

export const HOOK_MARKER = '# ckptsync-hook v1';
export const CHAINED_SUFFIX = '.pre-ckptsync';
/** Pushing data before commits is always wanted; materializing after checkout is opt-in (large data). */
export const PUSH_HOOKS = ['pre-push'] as const;
export const CHECKOUT_HOOKS = ['post-checkout', 'post-merge'] as const;
export type HookName = (typeof PUSH_HOOKS)[number] | (typeof CHECKOUT_HOOKS)[number];

export function hookScript(hook: HookName, hookPath: string, ckptArgs: string[]): string {
  const self = [...selfCommand(), 'git-hook', hook, ...ckptArgs].map(shQuote).join(' ');
  const chained = shQuote(hookPath + CHAINED_SUFFIX);
  // pre-push gets the refs on stdin, and both hooks need them: keep a copy.
  const stdin = hook === 'pre-push';
  return [
    '#!/bin/sh',
    `${HOOK_MARKER} (installed by 'ckptsync install'; 'ckptsync uninstall' restores any hook it chained)`,
    ...(stdin ? ['input=$(mktemp) || exit 1', 'trap \'rm -f "$input"\' EXIT', 'cat > "$input"'] : []),
    `if [ -x ${chained} ]; then ${chained} "$@"${stdin ? ' < "$input"' : ''} || exit $?; fi`,
    `${self} "$@"${stdin ? ' < "$input"' : ''}`,
    '',
  ].join('\n');
}

export interface HookChange {
  hook: HookName;
  path: string;
  /** A hook that was there before and is now run first by ours (install), or put back (uninstall). */
  chained?: string;
}

async function isOurs(p: string): Promise<boolean> {
  const text = await fs.readFile(p, 'utf8').catch(() => null);
  return text !== null && text.includes(HOOK_MARKER);
}

export async function installHooks(cwd: string, hooks: readonly HookName[], ckptArgs: string[] = []): Promise<{ gitRoot: string; installed: HookChange[] }> {
  const gitRoot = await gitTopLevel(cwd);
  const dir = await gitPath(gitRoot, 'hooks');
  await fs.mkdir(dir, { recursive: true });
  const installed: HookChange[] = [];
  for (const hook of hooks) {
    const p = path.join(dir, hook);
    const change: HookChange = { hook, path: p };
    const exists = await fs.lstat(p).catch(() => null);
    if (exists && !(await isOurs(p))) {
      // Never overwrite: the old hook keeps running, before ours.
      if (await fs.lstat(p + CHAINED_SUFFIX).catch(() => null)) throw new Error(`${p + CHAINED_SUFFIX} already exists; move it away first`);
      await fs.rename(p, p + CHAINED_SUFFIX);
    }
    if (await fs.lstat(p + CHAINED_SUFFIX).catch(() => null)) change.chained = p + CHAINED_SUFFIX;
    await fs.writeFile(p + '.tmp', hookScript(hook, p, ckptArgs), { mode: 0o755 });
    await fs.rename(p + '.tmp', p);
    installed.push(change);
  }
  return { gitRoot, installed };
}

export async function uninstallHooks(cwd: string, hooks: readonly HookName[]): Promise<{ gitRoot: string; removed: HookChange[] }> {
  const gitRoot = await gitTopLevel(cwd);
  const dir = await gitPath(gitRoot, 'hooks');
  const removed: HookChange[] = [];
  for (const hook of hooks) {
    const p = path.join(dir, hook);
    if (!(await isOurs(p))) continue;
    const change: HookChange = { hook, path: p };
    if (await fs.lstat(p + CHAINED_SUFFIX).catch(() => null)) {
      await fs.rename(p + CHAINED_SUFFIX, p);
      change.chained = p;
    } else await fs.rm(p);
    removed.push(change);
  }
  return { gitRoot, removed };
}
