// Periodic checkpoint names: a prefix, a step or epoch number, an optional extension
// ("epoch_100", "ckpt-000200.safetensors"). Shared by latest, prune and the Checkpointer.

export interface Numbered<T = string> {
  item: T;
  name: string;
  number: number;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The number in `name` if it is `prefix`, then digits, then optionally an extension. When the prefix
 * does not end in a separator, one of "-", "_", "." may come between ("epoch" matches "epoch_3").
 */
export function numberOf(prefix: string, name: string): number | null {
  const sep = /[-_./]$/.test(prefix) || prefix === '' ? '' : '[-_.]?';
  const m = new RegExp(`^${escape(prefix)}${sep}(\\d+)(\\.[A-Za-z0-9][A-Za-z0-9._-]*)?$`).exec(name);
  if (!m) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** Items whose names match, sorted by number (then name), oldest first. */
export function numbered<T>(prefix: string, items: Iterable<T>, nameOf: (x: T) => string): Numbered<T>[] {
  const out: Numbered<T>[] = [];
  for (const item of items) {
    const name = nameOf(item);
    const number = numberOf(prefix, name);
    if (number !== null) out.push({ item, name, number });
  }
  return out.sort((a, b) => a.number - b.number || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Which to remove: all but the last `keepLast`, except those whose number is a multiple of keepEvery. */
export function retentionPlan<T>(sorted: Numbered<T>[], keepLast: number, keepEvery?: number): { keep: Numbered<T>[]; remove: Numbered<T>[] } {
  const keep: Numbered<T>[] = [];
  const remove: Numbered<T>[] = [];
  sorted.forEach((x, i) => {
    const recent = i >= sorted.length - keepLast;
    const milestone = keepEvery !== undefined && keepEvery > 0 && x.number % keepEvery === 0;
    (recent || milestone ? keep : remove).push(x);
  });
  return { keep, remove };
}
