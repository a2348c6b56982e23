// The benchmark's checkpoints: for each layout (one safetensors file, a PyTorch zip `.pt`, a directory
// of sharded safetensors), version 1, version 2 with ~10% of tensor bytes rewritten (q/v projections,
// like a LoRA merge) and version 3 with 1 MiB rewritten inside one large tensor (a sparse update), at
// an offset that is deliberately not aligned to any chunk size. `changed` is the ideal upload: the
// bytes that really differ from version 1.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { loraEveryFor, loraVersion, tensorBytes, transformerLayout, writeSafetensors, type SafetensorsOptions, type TensorSpec } from '../../fixtures/generate.js';
import { writePytorchZip } from '../../fixtures/pytorch-zip.js';

export type Layout = 'safetensors' | 'pytorch' | 'sharded';
export const LAYOUTS: Layout[] = ['safetensors', 'pytorch', 'sharded'];

export interface Version {
  /** What to `add`: a file or a directory. */
  path: string;
  /** Bytes that differ from version 1 (0 for version 1). */
  changed: number;
}

export interface Dataset {
  layout: Layout;
  bytes: number;
  versions: [Version, Version, Version];
}

const SPARSE_BYTES = 1 << 20;

export async function generate(root: string, layout: Layout, bytes: number, shards = 4): Promise<Dataset> {
  const tensors = transformerLayout(bytes);
  const every = loraEveryFor(tensors, 0.1);
  const v2 = loraVersion(every);
  const big = tensors.reduce((a, t) => (tensorBytes(t) > tensorBytes(a) ? t : a));
  const patchOffset = Math.min((3 << 19) + 4099, Math.max(0, tensorBytes(big) - SPARSE_BYTES));
  const variants: SafetensorsOptions[] = [
    { tensors },
    { tensors, versionOf: v2 },
    { tensors, patch: { tensor: big.name, offset: patchOffset, length: SPARSE_BYTES, seed: 'sparse' } },
  ];
  const changed = [0, tensors.filter((t) => v2(t) !== 1).reduce((n, t) => n + tensorBytes(t), 0), SPARSE_BYTES];
  const versions = [] as unknown as [Version, Version, Version];
  for (const [i, opts] of variants.entries()) {
    const dir = path.join(root, layout, `v${i + 1}`);
    const p = await writeLayout(dir, layout, opts, shards);
    versions.push({ path: p, changed: changed[i]! });
  }
  return { layout, bytes: await sizeOf(versions[0].path), versions };
}

async function writeLayout(dir: string, layout: Layout, opts: SafetensorsOptions, shards: number): Promise<string> {
  if (layout === 'safetensors') {
    const f = path.join(dir, 'model.safetensors');
    await writeSafetensors(f, opts);
    return f;
  }
  if (layout === 'pytorch') {
    const f = path.join(dir, 'model.pt');
    await writePytorchZip(f, opts);
    return f;
  }
  // Sharded the way transformers saves large models: model-0000i-of-0000n.safetensors plus an index.
  const out = path.join(dir, 'model');
  const groups = splitEvenly(opts.tensors!, shards);
  const weightMap: Record<string, string> = {};
  for (const [i, g] of groups.entries()) {
    const name = `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
    await writeSafetensors(path.join(out, name), { ...opts, tensors: g });
    for (const t of g) weightMap[t.name] = name;
  }
  await fsp.writeFile(path.join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  return out;
}

function splitEvenly(tensors: TensorSpec[], n: number): TensorSpec[][] {
  const total = tensors.reduce((s, t) => s + tensorBytes(t), 0);
  const groups: TensorSpec[][] = [[]];
  let acc = 0;
  for (const t of tensors) {
    if (acc >= (total / n) * groups.length && groups.length < n) groups.push([]);
    groups[groups.length - 1]!.push(t);
    acc += tensorBytes(t);
  }
  return groups.filter((g) => g.length > 0);
}

export async function sizeOf(p: string): Promise<number> {
  const st = await fsp.stat(p);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await fsp.readdir(p)) n += await sizeOf(path.join(p, e));
  return n;
}
