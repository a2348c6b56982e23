// Temp files left by a killed process. tempPathFor (store.ts) names carry the writer's pid, so a later
// run on the same machine can tell a dead writer's leftovers from a live writer's work in progress.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Marks temp file names: the final name, this, then `<pid>-<8 hex>`. */
export const TMP_MARK = '.tmp-';

/** False only when this machine certainly has no such process (ESRCH); EPERM means it exists. */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return true; // 0 and negatives name process groups, not a process
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The writer's pid of a temp file name, or null when the name is not one of ours. */
function writerPid(name: string): number | null {
  const i = name.lastIndexOf(TMP_MARK);
  const m = i > 0 ? /^(\d+)-[0-9a-f]{8}$/.exec(name.slice(i + TMP_MARK.length)) : null;
  return m ? Number(m[1]) : null;
}

/**
 * Removes temp files in dir (and, with depth > 0, its subdirectories) whose writer is dead. Returns how many.
 * Listed synchronously: every add sweeps the store's 256 objects/ab folders, and through the thread pool
 * that was 256 round trips one after the other (~50-120 ms of a re-add of 10,000 small files).
 */
export async function removeStaleTemps(dir: string, depth = 0): Promise<number> {
  let removed = 0;
  let ents: fsSync.Dirent[] = [];
  try {
    ents = fsSync.readdirSync(dir, { withFileTypes: true });
  } catch {}
  for (const e of ents) {
    if (e.isDirectory() && depth > 0) removed += await removeStaleTemps(path.join(dir, e.name), depth - 1);
    else if (e.isFile()) {
      const pid = writerPid(e.name);
      if (pid !== null && !processAlive(pid)) {
        await fs.rm(path.join(dir, e.name), { force: true });
        removed++;
      }
    }
  }
  return removed;
}
