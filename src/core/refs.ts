// Ref documents: a name, the manifest it points at, and every move of it (manifest-spec.md, "Refs").
// The same encoding is used in the local repository and on remotes.

import os from 'node:os';
import { IntegrityError } from '../errors.js';
import { assertHash, assertRefName } from '../remote/layout.js';

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

export function newEntry(target: string, kind: RefEntry['kind'] = 'set'): RefEntry {
  return { target, time: new Date().toISOString(), by: writerId(), kind };
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

export function decodeRef(data: Buffer, where: string): RefDocument {
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
  try {
    assertRefName(d.name);
    assertHash(d.target);
    for (const h of d.history) assertHash(h.target);
  } catch (e) {
    throw new IntegrityError(`ref ${where} is malformed: ${(e as Error).message}`);
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
