// Writes oclif.manifest.json for the build in dist/ (run after tsc: `node dist/scripts/oclif-manifest.js`),
// so the first CLI start after a build is fast too. bin/run.js checks the fingerprint anyway and
// rebuilds a stale manifest itself (src/cli/command-manifest.ts), so skipping this step is only slower.
// Never fails the build: a command that does not load leaves no manifest (oclif then warns per run).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCommandManifest, saveCommandManifest, COMMAND_MANIFEST_FILE } from '../src/cli/command-manifest.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const g = await generateCommandManifest(root);
const count = Object.keys(g.manifest.commands as object).length;
if (!g.complete) process.stderr.write(`oclif-manifest: some commands failed to load; ${COMMAND_MANIFEST_FILE} not written\n`);
else if (!saveCommandManifest(root, g.manifest)) process.stderr.write(`oclif-manifest: could not write ${path.join(root, COMMAND_MANIFEST_FILE)}\n`);
else process.stdout.write(`oclif-manifest: ${count} commands -> ${COMMAND_MANIFEST_FILE}\n`);
