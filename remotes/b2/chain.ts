// The document chain that makes swapDocument a compare-and-swap on B2, which has no conditional
// write (README.md, "How swapDocument is made safe"). Each write uploads a new version of the
// document's name carrying `prev`, the fileId of the version it replaces ("none" to create). Given
// the versions in the server's order, oldest first, the chain is:
//   the first version with prev "none", then the first version (after it) whose prev is that one, ...
// A version is accepted exactly when it is in the chain; the document is the chain's last version.
// The rule reads nothing but the listing, so every reader computes the same chain, and of N writers
// that uploaded with the same prev only the oldest is accepted.

import { INFO_PREV, INFO_SWAP_ID, PREV_NONE, type FileVersion } from './wire.js';

export interface Chain {
  /** Accepted versions, oldest first. */
  accepted: FileVersion[];
  /** The current document version, or null when no version was ever accepted. */
  head: FileVersion | null;
}

/** Resolves the chain from all versions of one name, given oldest first. */
export function resolveChain(oldestFirst: readonly FileVersion[]): Chain {
  // First child of each prev, in order: later versions with the same prev lost their race.
  const firstChild = new Map<string, FileVersion>();
  for (const v of oldestFirst) {
    if (v.action !== 'upload') continue;
    const prev = v.fileInfo[INFO_PREV];
    if (prev === undefined || firstChild.has(prev)) continue;
    firstChild.set(prev, v);
  }
  const accepted: FileVersion[] = [];
  // A fileId is unique, so following first children cannot loop; the guard is for a corrupt listing.
  for (let v = firstChild.get(PREV_NONE); v && accepted.length <= oldestFirst.length; v = firstChild.get(v.fileId)) {
    accepted.push(v);
  }
  return { accepted, head: accepted.at(-1) ?? null };
}

/** True when the swap attempt tagged `swapId` made it into the chain (an earlier try of it may have). */
export function swapAccepted(chain: Chain, swapId: string): FileVersion | null {
  return chain.accepted.find((v) => v.fileInfo[INFO_SWAP_ID] === swapId) ?? null;
}
