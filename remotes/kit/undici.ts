// undici for the HTTP drivers (WebDAV, B2), without loading all of it: `import 'undici'` also loads
// fetch, WebSocket, caches, cookies and mocks, ~0.27 s of every CLI start that opens such a remote here
// (a no-op push to WebDAV took ~1.1 s); the drivers need only the dispatchers and the request API
// (~0.04 s). This wires them up as undici's own index does. Drivers import undici from here only.

import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
const api = require('undici/lib/api/index.js') as { request: (this: Undici.Dispatcher, opts: object) => Promise<Undici.Dispatcher.ResponseData> };
Object.assign(Dispatcher.prototype, api); // idempotent: the full index assigns the same functions

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export type Pool = Undici.Pool;
export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Agent = Undici.Agent;
export type { Dispatcher } from 'undici';

/** undici's request(url, opts) for a given dispatcher (the drivers always pass theirs; no global one). */
export function request(url: string, opts: Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Undici.Dispatcher }): Promise<Undici.Dispatcher.ResponseData> {
  const u = new URL(url);
  const { dispatcher, ...rest } = opts;
  return api.request.call(dispatcher, { ...rest, origin: u.origin, path: `${u.pathname}${u.search}`, method: opts.method ?? 'GET' });
}
