// The `serve --stdio` loop (docs/serve-protocol.md): JSON requests one per line on an input stream,
// answers and progress events one per line on an output stream. Requests run concurrently; each answer
// carries its request's id. A malformed line gets a typed error answer and the loop keeps serving.

import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CkptError, errorLine, ExitCode, UsageError } from '../errors.js';
import { keepRemotesOpen } from '../api/remote.js';
import { OPS, type Op, type OpContext } from './ops.js';

export const PROTOCOL_VERSION = 1;
/** The longest request line accepted, newline excluded (docs/serve-protocol.md, "Framing"). */
export const MAX_LINE_BYTES = 1 << 20;
/** Progress events of one request are sent at most this often (the last one of a phase may be dropped). */
const PROGRESS_INTERVAL_MS = 50;

type Id = string | number | null;

export interface ServeOptions {
  input: Readable;
  output: Writable;
  /** Directory requests are relative to (default: process.cwd()). */
  cwd?: string;
  version: string;
}

/** Serves until the input ends and every request in flight has been answered. */
export async function serve(opts: ServeOptions): Promise<void> {
  const inFlight = new Map<string, { ac: AbortController; done: Promise<void> }>();
  const send = (msg: object) => opts.output.write(JSON.stringify(msg) + '\n');
  send({ type: 'hello', protocol: PROTOCOL_VERSION, version: opts.version, maxLineBytes: MAX_LINE_BYTES, ops: Object.keys(OPS).concat('cancel') });

  const fail = (id: Id, err: unknown) => send({ id, type: 'result', status: 'error', error: errorOf(err), warnings: [] });

  const handle = (line: string) => {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch (e) {
      return fail(null, new UsageError(`request is not valid JSON: ${(e as Error).message}`));
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) return fail(null, new UsageError('request must be a JSON object {id, op, args}'));
    const { id, op, args } = req as { id?: unknown; op?: unknown; args?: unknown };
    if (!(typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)))) return fail(null, new UsageError('request id must be a string or an integer'));
    const key = JSON.stringify(id);
    if (inFlight.has(key)) return fail(id, new UsageError(`request id ${key} is already in flight`));
    if (typeof op !== 'string') return fail(id, new UsageError('request op must be a string'));
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) return fail(id, new UsageError('request args must be a JSON object'));
    const a = (args ?? {}) as Record<string, unknown>;
    if (op === 'cancel') {
      const target = inFlight.get(JSON.stringify(a.id));
      target?.ac.abort();
      return send({ id, type: 'result', status: 'ok', result: { cancelled: target !== undefined }, warnings: [] });
    }
    const run: Op | undefined = Object.hasOwn(OPS, op) ? OPS[op as keyof typeof OPS] : undefined;
    if (!run) return fail(id, new UsageError(`unknown op ${JSON.stringify(op).slice(0, 100)} (known: ${Object.keys(OPS).join(', ')}, cancel)`));

    const ac = new AbortController();
    let lastProgress = 0;
    const ctx: OpContext = {
      // A client's working directory may change between requests (a notebook's chdir): it sends its own.
      cwd: typeof a.cwd === 'string' && path.isAbsolute(a.cwd) ? a.cwd : (opts.cwd ?? process.cwd()),
      signal: ac.signal,
      progress: (p) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_INTERVAL_MS && !p.final) return;
        lastProgress = now;
        send({ id, type: 'progress', progress: p });
      },
    };
    const done = (async () => {
      try {
        const r = await run(a, ctx);
        send({ id, type: 'result', status: 'ok', result: r.result, warnings: r.warnings ?? [] });
      } catch (e) {
        fail(id, e);
      } finally {
        inFlight.delete(key);
      }
    })();
    inFlight.set(key, { ac, done });
  };

  const closeRemotes = keepRemotesOpen(); // one connection per remote for the server's life, not per request
  try {
    await readLines(opts.input, handle, () => fail(null, new UsageError(`request line is longer than ${MAX_LINE_BYTES} bytes; it was discarded`)));
    await Promise.all([...inFlight.values()].map((x) => x.done));
  } finally {
    await closeRemotes();
  }
}

/** The answer's error shape, as `--json` prints it: {code, message, exitCode}; never a secret or a stack. */
export function errorOf(err: unknown): { code: string; message: string; exitCode: number } {
  if (err instanceof CkptError) return { code: err.code, message: errorLine(err), exitCode: err.exitCode };
  return { code: 'INTERNAL', message: errorLine(err), exitCode: ExitCode.failure };
}

/**
 * Splits the input into lines of at most MAX_LINE_BYTES. An oversize line is dropped whole (up to its
 * newline) and reported once, so one bad request never desynchronizes the ones after it.
 */
async function readLines(input: Readable, onLine: (line: string) => void, onOversize: () => void): Promise<void> {
  let parts: Buffer[] = [];
  let size = 0;
  let discarding = false;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!discarding) {
        if (size + (end - start) > MAX_LINE_BYTES) {
          discarding = true;
          parts = [];
          size = 0;
          onOversize();
        } else {
          parts.push(chunk.subarray(start, end));
          size += end - start;
        }
      }
      if (nl === -1) break;
      if (!discarding) {
        const line = Buffer.concat(parts).toString('utf8').trim();
        if (line) onLine(line);
      }
      parts = [];
      size = 0;
      discarding = false;
      start = nl + 1;
    }
  }
}
