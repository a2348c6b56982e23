import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import localRemote from '../../remotes/local/index.js';
import type { Remote } from '../../src/remote/types.js';

runRemoteConformance(test, {
  name: 'local',
  readInto: true,
  async start() {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-local-remote-'));
    const roots = new Map<Remote, string>();
    let n = 0;
    const openAt = async (root: string) => {
      const r = await localRemote.create(localRemote.parse(root));
      roots.set(r, root);
      return r;
    };
    return {
      target: {
        open: (sameAs) => openAt(sameAs ? roots.get(sameAs)! : path.join(dir, `r${n++}`)),
        // A directory has no credentials, and no network to fail transiently; filesystem faults are
        // covered by the reliability tests.
        openWithBadCredentials: { notApplicable: 'a local directory has no credentials' },
        injectTransientFailures: { notApplicable: 'a local directory has no network' },
      },
      stop: () => fs.rm(dir, { recursive: true, force: true }),
    };
  },
});
