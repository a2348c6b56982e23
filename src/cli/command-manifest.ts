// Without oclif.manifest.json in the package root, oclif imports every command file (and everything
// they import) on every run just to list the commands: about 0.3 s of a ~0.6 s `--version`. With it,
// oclif imports only the command being run. A manifest is only safe if it describes the build that is
// on disk, so ours carries a fingerprint of that build (package.json and every file under dist/src,
// by content) and bin/run.js trusts it only when the fingerprint still matches; otherwise it rebuilds
// the manifest in memory exactly as oclif would, and saves it when it can. A stale manifest therefore
// costs one slow start and can never hide a new command or route a command to a removed file.
//
// This module must stay cheap to import: it runs before @oclif/core on every start.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const COMMAND_MANIFEST_FILE = 'oclif.manifest.json';

/** The field we add to oclif's manifest (oclif reads only `version` and `commands`). */
const FINGERPRINT_KEY = 'ckptsyncBuild';

// dist/src, the compiled library these commands are built from (this file is dist/src/cli/...).
const DIST_SRC = fileURLToPath(new URL('..', import.meta.url));

function jsFiles(dir: string, rel: string, out: string[]): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.isDirectory()) jsFiles(path.join(dir, e.name), `${rel}${e.name}/`, out);
    else if (e.name.endsWith('.js')) out.push(`${rel}${e.name}`);
  }
  return out;
}

/**
 * Fingerprint of everything a manifest is derived from. By content, not mtime: tsc rewrites every
 * output on each build, and an unchanged build should keep its manifest. A command's help text may
 * use constants from anywhere in the library, hence all of dist/src (~100 files, a few ms).
 */
export function buildFingerprint(root: string): string {
  const h = crypto.createHash('sha1');
  h.update(fs.readFileSync(path.join(root, 'package.json')));
  for (const f of jsFiles(DIST_SRC, '', []).sort()) {
    h.update(`\0${f}\0`);
    h.update(fs.readFileSync(path.join(DIST_SRC, f)));
  }
  return h.digest('hex');
}

/** True when the manifest on disk was generated from exactly this build. */
export function commandManifestIsFresh(root: string, fingerprint = buildFingerprint(root)): boolean {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(root, COMMAND_MANIFEST_FILE), 'utf8'));
    return m?.[FINGERPRINT_KEY] === fingerprint;
  } catch {
    return false;
  }
}

export interface GeneratedManifest {
  /** oclif's root plugin, loaded without any manifest (so it imported every command). */
  plugin: import('@oclif/core').Interfaces.Plugin;
  /** The manifest JSON, fingerprint included. */
  manifest: Record<string, unknown>;
  /** False when some command failed to load: such a manifest would hide it, so it is never saved. */
  complete: boolean;
}

/** Builds the manifest the way oclif does when it has none: by importing every command. */
export async function generateCommandManifest(root: string, fingerprint = buildFingerprint(root)): Promise<GeneratedManifest> {
  const { Plugin } = await import('@oclif/core');
  const plugin = new Plugin({ root, isRoot: true, type: 'core', ignoreManifest: true });
  await plugin.load();
  const manifest = { ...plugin.manifest, [FINGERPRINT_KEY]: fingerprint };
  const complete = plugin.commandIDs.every((id) => id in plugin.manifest.commands);
  return { plugin, manifest, complete };
}

/** Writes the manifest with temp + rename, so a concurrent start never reads half a file. */
export function saveCommandManifest(root: string, manifest: Record<string, unknown>): boolean {
  const dest = path.join(root, COMMAND_MANIFEST_FILE);
  const tmp = `${dest}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(manifest, null, 1) + '\n');
    fs.renameSync(tmp, dest);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}

/**
 * Called by bin/run.js before oclif starts. Returns nothing when oclif may read the manifest on disk;
 * otherwise the freshly loaded root plugin, for oclif to use instead of a manifest it cannot trust
 * (when the fresh one could not be saved, e.g. a read-only install).
 */
export async function prepareCommandManifest(root: string): Promise<import('@oclif/core').Interfaces.Plugin | undefined> {
  const fingerprint = buildFingerprint(root);
  if (commandManifestIsFresh(root, fingerprint)) return undefined;
  const g = await generateCommandManifest(root, fingerprint);
  if (g.complete && saveCommandManifest(root, g.manifest)) return undefined;
  return g.plugin;
}
