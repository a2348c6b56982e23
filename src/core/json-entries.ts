// The top-level entries of a JSON object in a file, read a megabyte at a time, with the values of the
// entries a caller does not want skipped unparsed. The stat cache (worktree.ts) holds one entry per data
// path, and the entry of a folder of 400,000 files is ~22 MB of numbers: rewriting the cache after an add
// needs every entry but that one, and parsing the whole file for them took ~40 MB at the end of an add.

import { piecesOf } from './file-io.js';

const [QUOTE, BACKSLASH, COLON, COMMA, OPEN, CLOSE, OPEN_LIST, CLOSE_LIST] = [...'"\\:,{}[]'].map((c) => c.charCodeAt(0));
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * The entries of the JSON object in `file` whose keys `keep` accepts, parsed; the others are read past.
 * Null when the file is missing or is not one JSON object (as JSON.parse would refuse it).
 */
export async function objectEntries(file: string, keep: (key: string) => boolean): Promise<Record<string, unknown> | null> {
  const out: Record<string, unknown> = {};
  let state = 'start' as 'start' | 'key' | 'colon' | 'value' | 'end';
  let inString = false;
  let escaped = false;
  let depth = 0; // within a value
  let key: number[] = [];
  let keyText = '';
  let kept: Buffer[] | null = null;
  const endValue = () => {
    if (kept) out[keyText] = JSON.parse(Buffer.concat(kept).toString('utf8'));
    kept = null;
  };
  try {
    for await (const piece of piecesOf(file)) {
      let from = 0; // where the kept part of this piece starts
      for (let i = 0; i < piece.length; i++) {
        const b = piece[i]!;
        if (state === 'value') {
          if (inString) {
            if (escaped) escaped = false;
            else if (b === BACKSLASH) escaped = true;
            else if (b === QUOTE) inString = false;
            continue;
          }
          if (b === QUOTE) inString = true;
          else if (b === OPEN || b === OPEN_LIST) depth++;
          else if (depth > 0 && (b === CLOSE || b === CLOSE_LIST)) depth--;
          else if (depth === 0 && (b === COMMA || b === CLOSE)) {
            kept?.push(Buffer.from(piece.subarray(from, i)));
            endValue();
            state = b === COMMA ? 'key' : 'end';
          }
          continue;
        }
        if (state === 'key' && key.length === 0 && !inString) {
          if (isSpace(b) || b === COMMA) continue;
          if (b === CLOSE) {
            state = 'end';
            continue;
          }
          if (b !== QUOTE) return null;
          inString = true;
          key.push(b);
          continue;
        }
        if (state === 'key') {
          key.push(b);
          if (escaped) escaped = false;
          else if (b === BACKSLASH) escaped = true;
          else if (b === QUOTE) {
            inString = false;
            keyText = JSON.parse(Buffer.from(key).toString('utf8')) as string;
            key = [];
            state = 'colon';
          }
          continue;
        }
        if (isSpace(b)) continue;
        if (state === 'start' && b === OPEN) state = 'key';
        else if (state === 'colon' && b === COLON) {
          state = 'value';
          depth = 0;
          kept = keep(keyText) ? [] : null;
          from = i + 1;
        } else return null;
      }
      if (state === 'value') kept?.push(Buffer.from(piece.subarray(from)));
    }
  } catch {
    return null;
  }
  return state === 'end' ? out : null;
}
