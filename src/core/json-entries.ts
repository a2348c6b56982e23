// The top-level entries of a JSON object in a file, read a megabyte at a time, with the values of the
// entries a caller does not want skipped unparsed. The stat cache (worktree.ts) holds one entry per data
// path, and the entry of a folder of 400,000 files is ~22 MB of numbers: rewriting the cache after an add
// needs every entry but that one, and parsing the whole file for them took ~40 MB at the end of an add.

import { piecesOf } from './file-io.js';

const [QUOTE, BACKSLASH, COLON, COMMA, OPEN, CLOSE, OPEN_LIST, CLOSE_LIST] = [...'"\\:,{}[]'].map((c) => c.charCodeAt(0));
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** Takes a kept value's bytes as they come, and gives the value at its end (instead of JSON.parse of them all). */
export interface ValueReader {
  push(bytes: Buffer): void;
  end(): unknown;
}

/**
 * The entries of the JSON object in `file` whose keys `keep` accepts, parsed (or read by the ValueReader
 * `keep` gives for it); the others are read past. Null when the file is missing or is not one JSON object
 * (as JSON.parse would refuse it).
 */
export async function objectEntries(file: string, keep: (key: string) => boolean | ValueReader): Promise<Record<string, unknown> | null> {
  const out: Record<string, unknown> = {};
  let state = 'start' as 'start' | 'key' | 'colon' | 'value' | 'end';
  let inString = false;
  let escaped = false;
  let depth = 0; // within a value
  let key: number[] = [];
  let keyText = '';
  let kept: ValueReader | null = null;
  const endValue = () => {
    if (kept) out[keyText] = kept.end();
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
            kept?.push(piece.subarray(from, i));
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
          const wanted = keep(keyText);
          kept = wanted === true ? wholeValue() : wanted || null;
          from = i + 1;
        } else return null;
      }
      if (state === 'value') kept?.push(piece.subarray(from));
    }
  } catch {
    return null;
  }
  return state === 'end' ? out : null;
}

/** A value gathered whole and parsed at its end. */
function wholeValue(): ValueReader {
  const parts: Buffer[] = [];
  return {
    push: (bytes) => void parts.push(Buffer.from(bytes)), // its own copy: the piece's buffer is reused
    end: () => JSON.parse(Buffer.concat(parts).toString('utf8')),
  };
}

const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * Reads an object value whose field `field` is a list of numbers: that list is read into a Float64Array
 * as its bytes come, never as text, and the rest parsed at the end with the list in its place. The stat
 * cache's entry for a folder of 400,000 files is 1.6 million numbers (~20 MB of text), and JSON.parse of
 * it raised an add's peak by ~50 MB. The value ends up as JSON.parse would give it, but for that list; a
 * value of another shape (the field not a flat list of numbers) throws, as invalid JSON does.
 * With `sink`, each number goes there as it is read, nothing is kept, and the field's value is how many
 * numbers there were.
 */
export function numbersField(field: string, sink?: (x: number) => void): ValueReader {
  const rest = new ByteList();
  let depth = 0;
  let inString = false;
  let escaped = false;
  let key: number[] | null = null; // a string at depth 1 being read: maybe a key
  let lastString = '';
  let inList = false; // within the list of numbers
  let carry = ''; // a number cut by the end of a piece
  let numbers = new Float64Array(sink ? 0 : 1024);
  let n = 0;
  let found = false;
  const take = (text: string) => {
    const t = text.trim();
    if (!JSON_NUMBER.test(t)) throw new SyntaxError(`not a number in ${field}: ${t.slice(0, 40)}`);
    if (sink) {
      sink(Number(t));
      n++;
      return;
    }
    if (n === numbers.length) {
      const more = new Float64Array(n * 2);
      more.set(numbers);
      numbers = more;
    }
    numbers[n++] = Number(t);
  };
  return {
    push(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        if (inList) {
          // To the next comma or the list's end: one string per number, none for the list.
          let j = i;
          while (j < bytes.length && bytes[j] !== COMMA && bytes[j] !== CLOSE_LIST) j++;
          const text = carry + bytes.toString('latin1', i, j);
          if (j === bytes.length) {
            carry = text;
            break;
          }
          carry = '';
          if (bytes[j] === COMMA) take(text);
          else {
            if (text.trim() || n) take(text);
            inList = false;
            depth--;
            rest.push(CLOSE_LIST);
          }
          i = j;
          continue;
        }
        const b = bytes[i]!;
        rest.push(b);
        if (inString) {
          key?.push(b);
          if (escaped) escaped = false;
          else if (b === BACKSLASH) escaped = true;
          else if (b === QUOTE) {
            inString = false;
            if (key) lastString = JSON.parse(Buffer.from(key).toString('utf8')) as string;
            key = null;
          }
          continue;
        }
        if (b === QUOTE) {
          inString = true;
          key = depth === 1 ? [b] : null;
          if (depth !== 1) lastString = '';
        } else if (b === OPEN || b === OPEN_LIST) {
          depth++;
          // The list right after `"field":` at the top of the object: its numbers are read, not kept.
          if (b === OPEN_LIST && depth === 2 && lastString === field && rest.endsWithColonThen(OPEN_LIST)) {
            if (found) throw new SyntaxError(`${field} twice`);
            found = inList = true;
          }
        } else if (b === CLOSE || b === CLOSE_LIST) depth--;
        else if (b === COMMA) lastString = '';
      }
    },
    end() {
      if (inList || depth !== 0) throw new SyntaxError('cut short');
      const value = JSON.parse(rest.text()) as Record<string, unknown>;
      if (found) value[field] = sink ? n : numbers.slice(0, n);
      return value;
    },
  };
}

/** Bytes appended one by one into a buffer that doubles as it fills. */
class ByteList {
  private bytes = Buffer.allocUnsafe(256);
  private n = 0;
  push(b: number): void {
    if (this.n === this.bytes.length) {
      const more = Buffer.allocUnsafe(this.n * 2);
      this.bytes.copy(more);
      this.bytes = more;
    }
    this.bytes[this.n++] = b;
  }
  /** Whether they end in a colon, spaces, then `last`. */
  endsWithColonThen(last: number): boolean {
    if (this.bytes[this.n - 1] !== last) return false;
    for (let i = this.n - 2; i >= 0; i--) if (!isSpace(this.bytes[i]!)) return this.bytes[i] === COLON;
    return false;
  }
  text(): string {
    return this.bytes.toString('utf8', 0, this.n);
  }
}
