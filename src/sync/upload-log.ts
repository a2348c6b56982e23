// Batches appends to the remote state's upload log (manifest-spec.md §10): one append per batch of
// uploaded chunks instead of one per chunk, with a single append in flight, so that logging never
// throttles the uploads. A killed push loses at most the batch being written, which it re-uploads.

import type { RemoteState } from './state.js';

export class UploadLogBatcher {
  private queued: string[] = [];
  private running: Promise<void> | null = null;
  private failure: unknown = null;
  constructor(private readonly state: RemoteState) {}

  add(hash: string): void {
    this.queued.push(hash);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued.length) {
        const batch = this.queued;
        this.queued = [];
        await this.state.logUploaded(batch);
      }
    } catch (e) {
      this.failure ??= e;
    } finally {
      this.running = null;
    }
  }

  /** Waits until everything added is logged. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (this.queued.length) await this.drain();
    if (this.failure) throw this.failure;
  }
}
