// Pointer files (manifest-spec.md, "Pointer files"): the small text file committed to git in place of a
// checkpoint. Strict grammar, one canonical encoding, unknown keys preserved. The parser accepts every
// version listed in READABLE_VERSIONS and the writer writes only the newest.

import path from 'node:path';
import { UsageError } from '../errors.js';
import { isHash, isRefName } from '../names.js';

export const POINTER_VERSION = 'https://ckptsync.dev/spec/pointer/v1';
export const READABLE_VERSIONS = [POINTER_VERSION];
export const POINTER_MAX_BYTES = 1024;
export const POINTER_SUFFIX = '.ckpt';

export interface Pointer {
  version: string;
  /** Manifest hash. */
  manifest: string;
  /** Total bytes of the snapshot. */
  size: number;
  /** The name the snapshot was added under, if any. */
  name?: string;
  /** Keys this version does not know, kept as they were. */
  extra: Record<string, string>;
}

const KEY_RE = /^[a-z0-9][a-z0-9.-]*$/;

export class PointerError extends UsageError {}

export function parsePointer(text: Buffer | string, where = 'pointer file'): Pointer {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const bad = (why: string): never => {
    throw new PointerError(`${where} is not a valid ckptsync pointer: ${why}`);
  };
  if (buf.length > POINTER_MAX_BYTES) bad(`larger than ${POINTER_MAX_BYTES} bytes`);
  const s = buf.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(buf)) bad('not UTF-8');
  if (!s.endsWith('\n')) bad('does not end with a newline');
  const lines = s.slice(0, -1).split('\n');
  const map = new Map<string, string>();
  lines.forEach((line, i) => {
    const sp = line.indexOf(' ');
    if (sp <= 0) bad(`line ${i + 1} is not "key value"`);
    const key = line.slice(0, sp);
    const value = line.slice(sp + 1);
    if (!KEY_RE.test(key)) bad(`line ${i + 1} has an invalid key ${JSON.stringify(key)}`);
    if (value.length === 0 || /[\r\u0000-\u001f\u007f]/.test(value)) bad(`line ${i + 1} has an invalid value`);
    if (map.has(key)) bad(`key ${key} appears twice`);
    if (i === 0 && key !== 'version') bad('the first line must be "version ..."');
    map.set(key, value);
  });
  const version = map.get('version')!;
  if (!READABLE_VERSIONS.includes(version)) bad(`unknown version ${JSON.stringify(version)} (this ckptsync reads ${READABLE_VERSIONS.join(', ')})`);
  const manifest = map.get('manifest') ?? bad('no manifest line');
  if (!isHash(manifest)) bad('manifest is not a BLAKE3 hash');
  const sizeText = map.get('size') ?? bad('no size line');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) bad('size is not a decimal byte count');
  const name = map.get('name');
  if (name !== undefined && !isRefName(name)) bad(`invalid name ${JSON.stringify(name)}`);
  const extra: Record<string, string> = {};
  for (const [k, v] of map) if (!['version', 'manifest', 'size', 'name'].includes(k)) extra[k] = v;
  return { version, manifest, size: Number(sizeText), name, extra };
}

/** The canonical encoding: version first, then every other key in byte order, one "key value\n" each. */
export function formatPointer(p: Omit<Pointer, 'version' | 'extra'> & { extra?: Record<string, string> }): string {
  const fields: Record<string, string> = { ...(p.extra ?? {}), manifest: p.manifest, size: String(p.size) };
  if (p.name !== undefined) fields.name = p.name;
  const keys = Object.keys(fields).sort();
  const text = `version ${POINTER_VERSION}\n` + keys.map((k) => `${k} ${fields[k]}\n`).join('');
  if (Buffer.byteLength(text) > POINTER_MAX_BYTES) throw new PointerError(`pointer would be larger than ${POINTER_MAX_BYTES} bytes`);
  return text;
}

/**
 * The data a pointer file stands for: its path without `.ckpt`. A pointer whose base name is empty,
 * `.` or `..` (`.ckpt`, `..ckpt`, `...ckpt`) would name its own folder or the one above: refused.
 */
export function dataPathOf(pointerPath: string): string {
  const data = pointerPath.slice(0, -POINTER_SUFFIX.length);
  const base = path.basename(data);
  if (!pointerPath.endsWith(POINTER_SUFFIX) || data.endsWith(path.sep) || base === '' || base === '.' || base === '..') {
    throw new PointerError(`${pointerPath} is not a usable pointer file name: the part before ${POINTER_SUFFIX} must name a file`);
  }
  return data;
}

export function isCanonicalPointer(text: Buffer | string): boolean {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  try {
    return formatPointer(parsePointer(s)) === s;
  } catch {
    return false;
  }
}
