// Ref documents: a name, the manifest it points at, and every move of it (manifest-spec.md, "Refs").
// The same encoding is used in the local repository and on remotes.

import os from 'node:os';
import { IntegrityError } from '../errors.js';
import { isHash, isRefName } from '../names.js';

export const REF_FORMAT_VERSION = 1;

export interface RefEntry {
  /** Manifest hash. */
  target: string;
  /** ISO-8601 UTC time of the move. */
  time: string;
  /** user@host of the writer. */
  by: string;
  /** 'set': the name moved to target. 'conflict': recorded while another writer moved the name; not current. */
  kind: 'set' | 'conflict';
}

export interface RefDocument {
  version: number;
  name: string;
  target: string;
  history: RefEntry[];
}

export function writerId(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {}
  return `${user}@${os.hostname()}`;
}

let lastEntryMs = 0;

/**
 * A history entry for a move made now. Two entries made by one process never share a time (a later one
 * is put a millisecond after the one before), so a writer can tell its own entry from another's.
 */
export function newEntry(target: string, kind: RefEntry['kind'] = 'set'): RefEntry {
  lastEntryMs = Math.max(Date.now(), lastEntryMs + 1);
  return { target, time: new Date(lastEntryMs).toISOString(), by: writerId(), kind };
}

/** Canonical JSON: fixed key order, no whitespace, trailing newline. */
export function encodeRef(doc: RefDocument): Buffer {
  const canonical = {
    version: doc.version,
    name: doc.name,
    target: doc.target,
    history: doc.history.map((h) => ({ target: h.target, time: h.time, by: h.by, kind: h.kind })),
  };
  return Buffer.from(JSON.stringify(canonical) + '\n');
}

/**
 * The largest ref document a reader accepts (manifest-spec.md §6.2): ~100,000 moves of history. Readers
 * that list refs skip a larger one by its listed size, without reading it.
 */
export const REF_MAX_BYTES = 16 << 20;

/**
 * Parses and validates a ref document. `name`, when given, is the name the document is stored under: a
 * document claiming another name is refused (a ref copied or planted under the wrong key).
 */
export function decodeRef(data: Buffer, where: string, name?: string): RefDocument {
  if (data.length > REF_MAX_BYTES) throw new IntegrityError(`ref ${where} is larger than ${REF_MAX_BYTES} bytes`);
  if (data.length === 0) throw new IntegrityError(`ref ${where} is empty`);
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    throw new IntegrityError(`ref ${where} is not valid JSON`);
  }
  const d = doc as Partial<RefDocument>;
  if (typeof d !== 'object' || d === null || typeof d.version !== 'number') throw new IntegrityError(`ref ${where} has no version`);
  if (d.version > REF_FORMAT_VERSION) throw new IntegrityError(`ref ${where} has format version ${d.version}; this ckptsync reads up to ${REF_FORMAT_VERSION}: upgrade ckptsync`);
  if (typeof d.name !== 'string' || typeof d.target !== 'string' || !Array.isArray(d.history)) {
    throw new IntegrityError(`ref ${where} is malformed`);
  }
  const bad = (why: string): never => {
    throw new IntegrityError(`ref ${where} is malformed: ${why}`);
  };
  if (!isRefName(d.name)) bad(`invalid name ${JSON.stringify(d.name.slice(0, 80))}`);
  if (name !== undefined && d.name !== name) bad(`it names ${JSON.stringify(d.name.slice(0, 80))}, not the name it is stored under`);
  if (!isHash(d.target)) bad('target is not a manifest hash');
  for (const h of d.history as unknown[]) {
    const e = h as Partial<RefEntry> | null;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) bad('a history entry is not an object');
    if (typeof e!.target !== 'string' || !isHash(e!.target)) bad('a history entry has no manifest hash');
    if (typeof e!.time !== 'string' || typeof e!.by !== 'string' || (e!.kind !== 'set' && e!.kind !== 'conflict')) bad('a history entry lacks time, by or kind');
  }
  return d as RefDocument;
}

/** The document after moving `name` to `target`, keeping the old history. */
export function withMove(prev: RefDocument | null, name: string, entry: RefEntry): RefDocument {
  return {
    version: REF_FORMAT_VERSION,
    name,
    target: entry.kind === 'set' ? entry.target : (prev?.target ?? entry.target),
    history: [...(prev?.history ?? []), entry],
  };
}
