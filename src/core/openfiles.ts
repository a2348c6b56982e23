// Is some process still writing a file? On Linux, /proc/<pid>/fd links name every open file and
// /proc/<pid>/fdinfo/<fd> gives its open flags. Elsewhere (or without /proc) we cannot tell: false.

import fs from 'node:fs/promises';

const O_ACCMODE = 0o3; // O_WRONLY = 1, O_RDWR = 2

export async function isOpenForWriting(file: string): Promise<boolean> {
  let pids: string[];
  try {
    pids = (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return false;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await fs.readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or another user's process
    }
    for (const fd of fds) {
      const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => null);
      if (target !== file) continue;
      const info = await fs.readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      const flags = /flags:\s*([0-7]+)/.exec(info);
      if (!flags || (parseInt(flags[1]!, 8) & O_ACCMODE) !== 0) return true;
    }
  }
  return false;
}
