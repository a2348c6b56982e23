// A loopback server by name for the bench scripts: the test servers (test/servers/<name>.ts), or
// 'local', a temporary directory standing in for one.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LiveServer } from '../../test/servers/types.js';

export async function startServer(name: string): Promise<LiveServer> {
  if (name === 'local') {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-bench-local-'));
    let n = 0;
    return {
      newUrl: () => path.join(root, `r${n++}`),
      env: {},
      settings: {},
      rclone: () => ({ config: '[l]\ntype = local\n', remote: root }),
      port: 0,
      stop: () => fs.rm(root, { recursive: true, force: true }),
    };
  }
  const mod = (await import(`../../test/servers/${name}.js`)) as { start(): Promise<LiveServer> };
  return mod.start();
}
