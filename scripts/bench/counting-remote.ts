// A Remote wrapper that counts requests by method: the benchmark's figure for "remote requests".

import type { Remote } from '../../src/remote/types.js';

export function countingRemote(inner: Remote): { remote: Remote; counts: Record<string, number>; total(): number } {
  const counts: Record<string, number> = {};
  const bump = (m: string) => (counts[m] = (counts[m] ?? 0) + 1);
  const remote = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      if (prop === 'list') {
        return (...a: unknown[]) => {
          bump('list');
          return (v as (...x: unknown[]) => unknown).apply(target, a);
        };
      }
      return (...a: unknown[]) => {
        bump(String(prop));
        return (v as (...x: unknown[]) => unknown).apply(target, a);
      };
    },
  });
  return { remote, counts, total: () => Object.values(counts).reduce((a, b) => a + b, 0) };
}
