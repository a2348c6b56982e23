// Configuration of a directory remote: file:///abs/path or a plain path. It has no options.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';
import { Options } from '../kit/options.js';

export const options = [] as const satisfies readonly RemoteOption[];

export interface LocalConfig {
  /** Absolute path of the remote's directory. */
  root: string;
}

export function parseConfig(url: string, settings: RemoteSettings = {}): LocalConfig {
  new Options('file', options, settings); // refuses any setting: there are none
  const p = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (!p) throw new UsageError('empty remote path');
  return { root: path.resolve(p) };
}
