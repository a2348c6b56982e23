// Registers the drivers shipped with ckptsync, loaded on first use so that a command never pays for
// SDKs it does not need. Each driver is its own folder under remotes/. A scheme no driver serves goes to
// the stdio plugin host (remotes/plugin/), which looks for ckptsync-remote-<scheme> on PATH.
import { registerFallbackRemote, registerRemote } from './remote/registry.js';

let done = false;
export function registerBuiltinRemotes(): void {
  if (done) return;
  done = true;
  registerRemote('file', async () => (await import('../remotes/local/index.js')).default);
  for (const s of ['webdav', 'webdavs']) registerRemote(s, async () => (await import('../remotes/webdav/index.js')).default);
  registerRemote('s3', async () => (await import('../remotes/s3/index.js')).default);
  registerRemote('sftp', async () => (await import('../remotes/sftp/index.js')).default);
  registerRemote('b2', async () => (await import('../remotes/b2/index.js')).default);
  registerFallbackRemote(async (scheme) => (await import('../remotes/plugin/index.js')).pluginFor(scheme));
}
