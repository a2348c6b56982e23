import test from 'ava';
import { PathSlabs } from '../../src/core/path-slabs.js';

test('paths come back as pushed, across slabs and past the expected count, in any script', (t) => {
  const slabs = new PathSlabs(4);
  const paths: string[] = [];
  // ~3 MiB of paths: more than one 1 MiB slab, and a list grown far past 4.
  for (let i = 0; i < 60_000; i++) paths.push(`d${i % 97}/${'x'.repeat(i % 50)}/f${i}${i % 5 === 0 ? '-é-日本-🙂' : ''}.bin`);
  paths.push('y'.repeat(65_535));
  let wrong = 0;
  paths.forEach((p, i) => void (slabs.push(p) !== i && wrong++));
  t.is(slabs.length, paths.length);
  for (let i = 0; i < paths.length; i++) if (slabs.at(i) !== paths[i]) wrong++;
  t.is(wrong, 0);
  t.throws(() => slabs.push('z'.repeat(65_536)), { message: /longer than a slab entry/ });
  t.is(slabs.length, paths.length);
});
