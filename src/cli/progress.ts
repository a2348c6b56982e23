// Progress on stderr when it is a terminal: bytes, rate, ETA, and bytes skipped (already present)
// shown apart from bytes moved, so deduplication is visible. Silent otherwise.

import type { TransferProgress } from '../sync/transfer.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (Math.abs(n) >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(1)} ${units[u]}`;
}

export class ProgressLine {
  private readonly started = Date.now();
  private last = 0;
  private shown = false;
  constructor(
    private readonly label: string,
    private readonly enabled = Boolean(process.stderr.isTTY),
  ) {}

  /** done/total are the bytes this phase moves; skipped is shown separately. */
  update(done: number, total: number, skipped = 0, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const rate = done / secs;
    const eta = rate > 0 && total > done ? Math.ceil((total - done) / rate) : 0;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    const width = 24;
    const bar = '#'.repeat(Math.round((pct / 100) * width)).padEnd(width, '.');
    let line = `${this.label} [${bar}] ${pct}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${eta}s`;
    if (skipped > 0) line += ` | ${formatBytes(skipped)} already there`;
    process.stderr.write(`\r\x1b[K${line}`);
    this.shown = true;
  }

  transfer = (p: TransferProgress): void => this.update(p.bytesMoved, p.bytesToMove, p.bytesSkipped);

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}
