import { Repository } from '../core/repo.js';

export interface InitOptions {
  dir?: string;
}

export async function init(opts: InitOptions = {}): Promise<{ root: string; created: boolean }> {
  const { repo, created } = await Repository.init(opts.dir ?? process.cwd());
  return { root: repo.root, created };
}
