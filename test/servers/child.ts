// Stopping a live test server's process: ask politely, then SIGKILL after a grace, then remove its dir.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';

export async function stopServer(child: ChildProcess, exited: Promise<unknown>, dir: string, ask: () => void = () => child.kill('SIGTERM')): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    ask();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  await fs.rm(dir, { recursive: true, force: true });
}
