// The stdio plugin host with the reference plugin (plugins/ckptsync-remote-refdir, Python): the whole
// conformance suite through the protocol, found on PATH by its scheme like any third-party plugin.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import { loadFactory, openRemote } from '../../src/remote/registry.js';
import { registerBuiltinRemotes } from '../../src/builtin-remotes.js';
import { bufferSource, readAll } from '../../src/remote/source.js';
import { withRetry } from '../../src/remote/retry.js';
import { PluginRemote } from '../../remotes/plugin/index.js';
import { TransientError, UsageError } from '../../src/errors.js';
import type { Remote } from '../../src/remote/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PLUGIN_DIR = path.join(ROOT, 'plugins');
process.env.PATH = `${PLUGIN_DIR}${path.delimiter}${process.env.PATH}`;
// Unknown schemes reach the plugin host through the fallback the built-in drivers install.
registerBuiltinRemotes();

let base = '';
const dirOf = new Map<Remote, string>();
const open = async (dir: string, settings: Record<string, string> = {}) => {
  const r = await openRemote(`refdir://${dir}`, settings);
  dirOf.set(r, dir);
  return r;
};

runRemoteConformance(test, {
  name: 'plugin(refdir)',
  notApplicable: { readInto: "the plugin protocol moves objects as streams; it has no read into a caller's buffer" },
  putCreatesLocation: true,
  async start() {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-plugin-'));
    const faults = path.join(base, 'faults');
    let n = 0;
    return {
      target: {
        // Every remote reads the fault counter, so injected failures hit whichever request comes next.
        open: (sameAs) => open(sameAs ? dirOf.get(sameAs)! : path.join(base, `r${n++}`), { faults }),
        openMissing: () => open(path.join(base, `missing${n++}`, 'deep'), { faults }),
        openWithBadCredentials: async () => {
          const dir = path.join(base, `locked${n++}`);
          await fs.mkdir(dir, { recursive: true });
          await fs.writeFile(path.join(dir, '.refdir-token'), 'right');
          return open(dir, { token: 'wrong' });
        },
        injectTransientFailures: (count) => fs.writeFile(faults, String(count)),
      },
      stop: () => fs.rm(base, { recursive: true, force: true }),
    };
  },
});

test('plugin › an unknown scheme is served by ckptsync-remote-<scheme> on PATH, else refused', async (t) => {
  const f = await loadFactory('refdir:///tmp/x');
  t.deepEqual(f.schemes, ['refdir']);
  await t.throwsAsync(() => loadFactory('nosuchscheme://x'), { instanceOf: UsageError, message: /ckptsync-remote-nosuchscheme/ });
});

test('plugin › a plugin that dies fails requests as transient, and the next request starts a new one', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-plugin-crash-'));
  // A plugin that answers init and then exits on its first request, once (a marker file remembers).
  const exe = path.join(dir, 'ckptsync-remote-crashy');
  await fs.writeFile(
    exe,
    `#!/usr/bin/env python3
import json, os, sys
mark = ${JSON.stringify(path.join(dir, 'crashed'))}
for line in sys.stdin.buffer:
    req = json.loads(line)
    if req.get("op") == "init":
        print(json.dumps({"id": req["id"], "ok": True, "protocol": 1, "displayUrl": req["url"], "features": {}}), flush=True)
    elif req.get("op") == "terminate":
        break
    elif not os.path.exists(mark):
        open(mark, "w").close()
        os._exit(3)
    else:
        print(json.dumps({"id": req["id"], "ok": True, "info": {"size": 7}}), flush=True)
`,
    { mode: 0o755 },
  );
  const r = await (await import('../../remotes/plugin/index.js')).pluginFactory('crashy', exe).create({ executable: exe, url: 'crashy://x', settings: {} });
  try {
    await t.throwsAsync(() => r.stat('chunks/aa/x'), { instanceOf: TransientError });
    t.deepEqual(await r.stat('chunks/aa/x'), { key: 'chunks/aa/x', size: 7, mtimeMs: undefined });
    let retries = 0;
    await fs.rm(path.join(dir, 'crashed'));
    const wrapped = withRetry(r, { baseDelayMs: 5, onRetry: () => retries++ });
    t.is((await wrapped.stat('k'))?.size, 7);
    t.is(retries, 1);
  } finally {
    await r.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('plugin › progress messages from the plugin reach the host during a put', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-plugin-progress-'));
  const r = (await open(dir)) as PluginRemote;
  try {
    const seen: number[] = [];
    r.onProgress = (_key, n) => seen.push(n);
    const data = crypto.randomBytes(20 << 20);
    await r.put('chunks/ab/big', bufferSource(data));
    t.true(seen.length >= 2, `progress messages: ${seen.length}`);
    t.is(seen.at(-1), data.length);
    t.true((await readAll(await r.get('chunks/ab/big'))).equals(data));
  } finally {
    await r.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
