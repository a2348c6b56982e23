// Part records and attempt ids (manifest-spec.md §8b): the small document a writer puts at
// `parts/<name>/@<attempt>/<k>-of-<m>` once its part manifest is on the remote. The key layout of parts
// lives here, beside the format, because src/remote/layout.ts maps only the handles every driver test knows.

import { IntegrityError, UsageError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { writerId } from '../core/refs.js';
import { assertRefName, isHash, isRefName } from '../names.js';

export const PART_RECORD_VERSION = 1;
/** A record is a few hundred bytes; anything this large is not one. */
export const PART_RECORD_MAX_BYTES = 64 << 10;
export const MAX_PARTS = 100_000;
export const PARTS_PREFIX = 'parts/';

const ATTEMPT_RE = /^[A-Za-z0-9][A-Za-z0-9._+=-]{0,63}$/;

export interface PartRecord {
  version: number;
  name: string;
  attempt: string;
  /** 0-based, like a rank. */
  part: number;
  parts: number;
  /** The part manifest's hash. */
  manifest: string;
  /** Total size of the part's files. */
  bytes: number;
  by: string;
  time: string;
}

/** The parts of one save of a name: records of another attempt or another count are another set. */
export interface PartSet {
  name: string;
  attempt: string;
  parts: number;
}

export function isAttempt(s: string): boolean {
  return ATTEMPT_RE.test(s);
}

export function checkPartSet(set: PartSet, part?: number): void {
  assertRefName(set.name);
  if (!isAttempt(set.attempt)) throw new UsageError(`invalid attempt id ${JSON.stringify(set.attempt.slice(0, 80))}: 1 to 64 letters, digits and . _ + = -, starting with a letter or digit`);
  if (!Number.isSafeInteger(set.parts) || set.parts < 1 || set.parts > MAX_PARTS) throw new UsageError(`the number of parts must be 1 to ${MAX_PARTS}, not ${set.parts}`);
  if (part !== undefined && (!Number.isSafeInteger(part) || part < 0 || part >= set.parts)) {
    throw new UsageError(`part ${part} of ${set.parts} does not exist: parts are numbered 0 to ${set.parts - 1}, like ranks`);
  }
}

/** Parses `K/M` (the CLI's --part). */
export function parsePartSpec(spec: string): { part: number; parts: number } {
  const m = /^(0|[1-9][0-9]{0,5})\/([1-9][0-9]{0,5})$/.exec(spec.trim());
  if (!m) throw new UsageError(`--part takes K/M (this part's number, from 0, and the number of parts), not ${JSON.stringify(spec.slice(0, 40))}`);
  return { part: Number(m[1]), parts: Number(m[2]) };
}

/**
 * The attempt id every rank of one save shares (§8b): the caller's, else CKPTSYNC_ATTEMPT, else the
 * launcher's run id and restart count, else "0".
 */
export function defaultAttempt(given?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (given !== undefined) return given;
  const fit = (v: string) => (isAttempt(v) ? v : `h${hashBytes(Buffer.from(v)).slice(0, 16)}`);
  if (env.CKPTSYNC_ATTEMPT) return fit(env.CKPTSYNC_ATTEMPT);
  if (env.TORCHELASTIC_RUN_ID) return fit(`${env.TORCHELASTIC_RUN_ID}.r${env.TORCHELASTIC_RESTART_COUNT || '0'}`);
  if (env.SLURM_JOB_ID) return fit(`${env.SLURM_JOB_ID}.r${env.SLURM_RESTART_COUNT || '0'}`);
  return '0';
}

/** The folder holding every record of one attempt of a name. */
export function attemptPrefix(name: string, attempt: string): string {
  return `${PARTS_PREFIX}${name}/@${attempt}/`;
}

export function partKey(set: PartSet, part: number): string {
  return `${attemptPrefix(set.name, set.attempt)}${part}-of-${set.parts}`;
}

/** A record key back to what it names, or null for a key outside the layout. */
export function parsePartKey(key: string): (PartSet & { part: number }) | null {
  const m = /^parts\/(.+)\/@([^/]+)\/(0|[1-9][0-9]*)-of-([1-9][0-9]*)$/.exec(key);
  if (!m || !isRefName(m[1]!) || !isAttempt(m[2]!)) return null;
  const part = Number(m[3]);
  const parts = Number(m[4]);
  if (parts > MAX_PARTS || part >= parts) return null;
  return { name: m[1]!, attempt: m[2]!, part, parts };
}

export function newPartRecord(set: PartSet, part: number, manifest: string, bytes: number): PartRecord {
  return { version: PART_RECORD_VERSION, name: set.name, attempt: set.attempt, part, parts: set.parts, manifest, bytes, by: writerId(), time: new Date().toISOString() };
}

export function encodePartRecord(r: PartRecord): Buffer {
  const { version, name, attempt, part, parts, manifest, bytes, by, time } = r;
  return Buffer.from(JSON.stringify({ version, name, attempt, part, parts, manifest, bytes, by, time }) + '\n');
}

/** Decodes the record stored under `key`, refusing one that does not match its key (§8b). */
export function decodePartRecord(data: Buffer, key: string, where: string): PartRecord {
  const bad = (why: string): never => {
    throw new IntegrityError(`part record ${key} on ${where} ${why}`, { key });
  };
  if (data.length > PART_RECORD_MAX_BYTES) bad(`is larger than ${PART_RECORD_MAX_BYTES} bytes`);
  let d: any;
  try {
    d = JSON.parse(data.toString('utf8'));
  } catch {
    return bad('is not valid JSON');
  }
  if (typeof d !== 'object' || d === null || typeof d.version !== 'number') return bad('is malformed');
  if (d.version > PART_RECORD_VERSION) bad(`has version ${d.version}; this ckptsync reads up to ${PART_RECORD_VERSION}: upgrade ckptsync`);
  const k = parsePartKey(key);
  if (!k) return bad('is not under a part record key');
  if (d.name !== k.name || d.attempt !== k.attempt || d.part !== k.part || d.parts !== k.parts) bad('does not name the part its key names');
  if (typeof d.manifest !== 'string' || !isHash(d.manifest)) bad('has no manifest hash');
  if (!Number.isSafeInteger(d.bytes) || d.bytes < 0) bad('has no byte count');
  if (typeof d.by !== 'string' || typeof d.time !== 'string') bad('has no writer or time');
  return d as PartRecord;
}
