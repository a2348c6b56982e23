// The framing of the plugin protocol (docs/remote-plugin-protocol.md, "Framing"): a JSON line, then
// `bytes` raw bytes when it says so. Writing keeps a body whole; reading splits stdout into messages and
// streams a get's body straight to its reader.

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { PassThrough } from 'node:stream';
import { TransientError, UsageError, type ByteSource } from '../../src/remote/index.js';

export async function writeFrame(child: ChildProcessWithoutNullStreams, head: string, body?: ByteSource): Promise<void> {
  const out = child.stdin;
  const write = (b: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      if (out.destroyed || !out.writable) return reject(new TransientError('remote plugin stdin is closed'));
      if (out.write(b)) return resolve();
      const onDrain = () => {
        child.off('exit', onExit);
        resolve();
      };
      const onExit = () => {
        out.off('drain', onDrain);
        reject(new TransientError('remote plugin exited during a write'));
      };
      out.once('drain', onDrain);
      child.once('exit', onExit);
    });
  await write(head);
  if (!body || body.size === 0) return;
  if (body.buffer) return write(body.buffer);
  let n = 0;
  for await (const part of body.open()) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part as Uint8Array);
    n += b.length;
    if (n > body.size) throw new UsageError(`upload source gave more than its ${body.size} bytes`);
    await write(b);
  }
  // The frame promised `size` bytes; a short source would desynchronise the stream for good.
  if (n !== body.size) {
    child.kill();
    throw new TransientError(`upload source gave ${n} of ${body.size} bytes`);
  }
}

export /** Splits the plugin's stdout into messages: a JSON line, then `bytes` raw bytes if it says so. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private body: { head: Record<string, any>; left: number; parts: Buffer[]; stream?: PassThrough } | null = null;
  constructor(
    private readonly onMessage: (head: Record<string, any>, body: Buffer | undefined) => void,
    private readonly streamFor: (id: number) => PassThrough | undefined,
  ) {}

  push(data: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (this.buf.length) {
      if (this.body) {
        const take = Math.min(this.body.left, this.buf.length);
        const part = this.buf.subarray(0, take);
        this.buf = this.buf.subarray(take);
        this.body.left -= take;
        if (this.body.stream) this.body.stream.write(Buffer.from(part));
        else this.body.parts.push(Buffer.from(part));
        if (this.body.left === 0) this.finishBody();
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        if (this.buf.length > 16 << 20) throw new Error('message line longer than 16 MiB');
        return;
      }
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      if (line.trim() === '') continue;
      let head: Record<string, any>;
      try {
        head = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON message: ${JSON.stringify(line.slice(0, 100))}`);
      }
      if (typeof head !== 'object' || head === null || typeof head.id !== 'number') throw new Error('message without an id');
      const bytes = head.bytes;
      if (bytes === undefined || head.ok === false) {
        this.onMessage(head, undefined);
        continue;
      }
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`invalid bytes ${JSON.stringify(bytes)}`);
      // A get's body goes straight to its reader; streamFor tells get() the head arrived.
      const stream = head.ok === true ? this.streamFor(head.id) : undefined;
      this.body = { head, left: bytes, parts: [], stream };
      if (bytes === 0) this.finishBody();
    }
  }

  private finishBody(): void {
    const b = this.body!;
    this.body = null;
    this.onMessage(b.head, b.stream ? undefined : Buffer.concat(b.parts));
  }
}
