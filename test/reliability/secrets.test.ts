// Secrets never appear in output, logs or error messages: passwords in URLs are redacted in human and
// --json output, in `remote list`, and in errors from unreachable hosts.

import path from 'node:path';
import test from 'ava';
import { cli, tempDir } from '../helpers.js';

const SECRET = 'hunter2-s3cr3t-Pw';
const urls = [
  `webdav://alice:${SECRET}@127.0.0.1:9/dav`,
  `webdavs://alice:${SECRET}@ckptsync-test.invalid/remote.php/dav/files/alice`,
  `sftp://alice:${SECRET}@127.0.0.1:9/srv/ckpt`,
  `sftp://alice:${SECRET}@ckptsync-test.invalid/srv/ckpt`,
];

let checked = 0;
function assertNoSecret(t: any, what: string, ...texts: string[]) {
  checked++;
  for (const s of texts) t.false(s.includes(SECRET), `${what} leaked the password: ${s}`);
}

for (const [i, url] of urls.entries()) {
  test(`remote add, remote list and a failing pull with ${url.split(':')[0]} never print the password (${i})`, async (t) => {
    const dir = await tempDir('ckpt-secrets-');
    t.is((await cli(['init'], { cwd: dir })).code, 0);
    for (const json of [false, true]) {
      const name = json ? 'j' : 'h';
      const added = await cli(['remote', 'add', name, url, ...(json ? ['--json'] : [])], { cwd: dir });
      assertNoSecret(t, `remote add${json ? ' --json' : ''}`, added.stdout, added.stderr);
      const listed = await cli(['remote', 'list', ...(json ? ['--json'] : [])], { cwd: dir });
      t.is(listed.code, 0, listed.stderr);
      assertNoSecret(t, 'remote list', listed.stdout, listed.stderr);
      const pulled = await cli(['pull', 'model', '-r', name, ...(json ? ['--json'] : [])], { cwd: dir, env: { CKPTSYNC_DEBUG: '1' } });
      t.not(pulled.code, 0);
      t.regex(pulled.stderr, /ckptsync: error: /);
      assertNoSecret(t, 'failing pull (with CKPTSYNC_DEBUG stack traces)', pulled.stdout, pulled.stderr);
      // The URL given directly, not configured, must be redacted as well.
      const direct = await cli(['push', 'x', '-r', url, ...(json ? ['--json'] : [])], { cwd: dir });
      t.not(direct.code, 0);
      assertNoSecret(t, 'push to a URL with a password', direct.stdout, direct.stderr);
    }
    const v = await cli(['verify', '--remote', url], { cwd: path.join(dir) });
    t.not(v.code, 0);
    assertNoSecret(t, 'verify --remote', v.stdout, v.stderr);
  });
}

test.after.always((t) => t.log(`outputs checked for leaked passwords: ${checked}`));
