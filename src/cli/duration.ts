// Durations on the command line: a number with a unit (ms, s, m, h, d); a bare number is seconds.

import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${JSON.stringify(text)} is not a duration (e.g. 500ms, 30s, 90m, 2h, 1d)`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
}
