// A Backblaze B2 emulator for tests: plain node:http on 127.0.0.1 serving the documented subset of
// the native API (v2 shapes; /b2api/v1/ and /b2api/v2/ paths) that the b2 driver and rclone use, with
// B2's status codes and JSON error bodies, SHA-1 checks on uploads, file versions, large files, small
// list pages, and fault hooks. It is a test server only; the driver just sees B2_API_URL.

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LiveServer } from './types.js';

interface Version {
  fileId: string;
  fileName: string;
  action: 'upload' | 'hide';
  data: Buffer;
  contentSha1: string;
  contentType: string;
  fileInfo: Record<string, string>;
  uploadTimestamp: number;
}

interface LargeFile {
  fileId: string;
  bucketId: string;
  fileName: string;
  contentType: string;
  fileInfo: Record<string, string>;
  parts: Map<number, { data: Buffer; sha1: string }>;
}

type UploadTarget = { kind: 'file'; bucketId: string } | { kind: 'part'; fileId: string };

export interface B2EmulatorOptions {
  /** Largest maxFileCount a list call may ask for (B2: 10000; a small one makes pagination happen). */
  maxPageSize?: number;
  /** absoluteMinimumPartSize announced and enforced (B2: 5 MB). */
  minPartSize?: number;
}

export interface B2Emulator {
  url: string;
  port: number;
  keyId: string;
  key: string;
  bucketName: string;
  /** Fault hooks: each applies to the next `count` matching requests. */
  faults: {
    /** Every token issued so far (account and upload) answers 401 expired_auth_token from now on. */
    expireTokens(): void;
    /** Uploads (files and parts) answer 503 service_unavailable. */
    busyUploads(count: number): void;
    /** Any request answers 429 too_many_requests with Retry-After: seconds. */
    tooManyRequests(count: number, retryAfterSeconds: number): void;
    /** Any request answers 503 service_unavailable. */
    failNext(count: number): void;
  };
  /** Counters for tests. */
  stats: Record<'authorizations' | 'uploadUrls' | 'partUrls' | 'uploads' | 'largeFinished' | 'largeCancelled' | 'uploadUrlSharing', number>;
  /** All versions of a name in a bucket (newest first). */
  versionsOf(fileName: string): { fileId: string; fileInfo: Record<string, string> }[];
  stop(): Promise<void>;
}

class B2Failure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function startB2Emulator(opts: B2EmulatorOptions = {}): Promise<B2Emulator> {
  const maxPage = opts.maxPageSize ?? 1000;
  const minPartSize = opts.minPartSize ?? 5_000_000;
  const accountId = 'acct' + crypto.randomBytes(4).toString('hex');
  const keyId = '00' + crypto.randomBytes(8).toString('hex');
  const key = 'K00' + crypto.randomBytes(15).toString('base64url');
  const bucketName = 'ckpt-emu-' + crypto.randomBytes(3).toString('hex');
  const bucketId = 'b' + crypto.randomBytes(12).toString('hex');
  const buckets = new Map([[bucketId, { bucketId, bucketName, files: new Map<string, Version[]>() }]]);
  const byId = new Map<string, Version>();
  const large = new Map<string, LargeFile>();
  const accountTokens = new Map<string, { expired: boolean }>();
  const uploadTokens = new Map<string, { target: UploadTarget; expired: boolean; busy: boolean }>();
  const pending = { busy: 0, tooMany: 0, tooManyAfter: 1, fail: 0 };
  const stats = { authorizations: 0, uploadUrls: 0, partUrls: 0, uploads: 0, largeFinished: 0, largeCancelled: 0, uploadUrlSharing: 0 };
  let seq = 0;
  let lastTs = 0;
  let base = '';

  const newId = () => `4_z${bucketId.slice(0, 8)}_f${(++seq).toString(16).padStart(10, '0')}_${crypto.randomBytes(4).toString('hex')}`;
  const now = () => (lastTs = Math.max(lastTs, Date.now()));
  const sha1 = (b: Buffer) => crypto.createHash('sha1').update(b).digest('hex');
  const bucket = (id: unknown) => {
    const b = buckets.get(String(id));
    if (!b) throw new B2Failure(400, 'bad_request', `Invalid bucketId: ${String(id)}`);
    return b;
  };
  const fileJson = (v: Version) => ({
    accountId, bucketId, fileId: v.fileId, fileName: v.fileName, action: v.action, contentLength: v.data.length,
    contentSha1: v.contentSha1, contentType: v.contentType, fileInfo: v.fileInfo, uploadTimestamp: v.uploadTimestamp,
  });
  const addVersion = (bid: string, v: Version) => {
    const files = bucket(bid).files;
    files.set(v.fileName, [v, ...(files.get(v.fileName) ?? [])]);
    byId.set(v.fileId, v);
  };

  function checkAccountToken(req: http.IncomingMessage): void {
    const t = accountTokens.get(req.headers.authorization ?? '');
    if (!t) throw new B2Failure(401, 'bad_auth_token', 'Invalid authorization token');
    if (t.expired) throw new B2Failure(401, 'expired_auth_token', 'Authorization token has expired');
  }

  function authorize(req: http.IncomingMessage) {
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [id, secret] = m ? Buffer.from(m[1]!, 'base64').toString().split(':') : [];
    if (id !== keyId || secret !== key) throw new B2Failure(401, 'unauthorized', 'Invalid application key id or key');
    stats.authorizations++;
    const token = '4_' + crypto.randomBytes(20).toString('base64url');
    accountTokens.set(token, { expired: false });
    return {
      accountId, authorizationToken: token, apiUrl: base, downloadUrl: base, s3ApiUrl: base,
      recommendedPartSize: Math.max(minPartSize, 1 << 20), absoluteMinimumPartSize: minPartSize,
      allowed: { bucketId: null, bucketName: null, namePrefix: null, capabilities: ['listBuckets', 'listFiles', 'readFiles', 'writeFiles', 'deleteFiles'] },
    };
  }

  function uploadUrl(target: UploadTarget, path: string) {
    const token = '4_u' + crypto.randomBytes(20).toString('base64url');
    uploadTokens.set(token, { target, expired: false, busy: false });
    return { uploadUrl: `${base}/b2api/v2/${path}/${seq++}`, authorizationToken: token };
  }

  /** Sorted (name, newest-first versions) entries of a bucket from startName on. */
  function namesFrom(bid: string, prefix: string, startName: string) {
    return [...bucket(bid).files.entries()]
      .filter(([n, vs]) => vs.length > 0 && n.startsWith(prefix) && n >= startName)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const pageSize = (n: unknown) => Math.min(maxPage, Number(n ?? 100));

  const calls: Record<string, (b: Record<string, any>) => unknown> = {
    b2_list_buckets: (b) => ({
      buckets: [...buckets.values()].filter((x) => !b.bucketName || x.bucketName === b.bucketName).map((x) => ({ accountId, bucketId: x.bucketId, bucketName: x.bucketName, bucketType: 'allPrivate' })),
    }),
    b2_get_upload_url: (b) => {
      bucket(b.bucketId);
      stats.uploadUrls++;
      return { bucketId: b.bucketId, ...uploadUrl({ kind: 'file', bucketId: b.bucketId }, `b2_upload_file/${b.bucketId}`) };
    },
    b2_list_file_names: (b) => {
      const max = pageSize(b.maxFileCount);
      const names = namesFrom(b.bucketId, b.prefix ?? '', b.startFileName ?? '').filter(([, vs]) => vs[0]!.action === 'upload');
      return { files: names.slice(0, max).map(([, vs]) => fileJson(vs[0]!)), nextFileName: names[max]?.[0] ?? null };
    },
    b2_list_file_versions: (b) => {
      const max = pageSize(b.maxFileCount);
      let all = namesFrom(b.bucketId, b.prefix ?? '', b.startFileName ?? '').flatMap(([, vs]) => vs);
      if (b.startFileId) {
        const i = all.findIndex((v) => v.fileName === b.startFileName && v.fileId === b.startFileId);
        all = i >= 0 ? all.slice(i) : all;
      }
      const next = all[max];
      return { files: all.slice(0, max).map(fileJson), nextFileName: next?.fileName ?? null, nextFileId: next?.fileId ?? null };
    },
    b2_delete_file_version: (b) => {
      const v = byId.get(String(b.fileId));
      if (!v) throw new B2Failure(404, 'not_found', `File not present: ${b.fileName} ${b.fileId}`);
      if (v.fileName !== b.fileName) throw new B2Failure(400, 'bad_request', 'fileName does not match fileId');
      for (const x of buckets.values()) {
        const vs = x.files.get(v.fileName);
        if (!vs) continue;
        const rest = vs.filter((y) => y.fileId !== v.fileId);
        if (rest.length) x.files.set(v.fileName, rest);
        else x.files.delete(v.fileName);
      }
      byId.delete(v.fileId);
      return { fileId: v.fileId, fileName: v.fileName };
    },
    b2_start_large_file: (b) => {
      bucket(b.bucketId);
      const lf: LargeFile = { fileId: newId(), bucketId: b.bucketId, fileName: b.fileName, contentType: b.contentType ?? 'b2/x-auto', fileInfo: b.fileInfo ?? {}, parts: new Map() };
      large.set(lf.fileId, lf);
      return { accountId, bucketId: b.bucketId, fileId: lf.fileId, fileName: lf.fileName, action: 'start', contentType: lf.contentType, fileInfo: lf.fileInfo, uploadTimestamp: now() };
    },
    b2_get_upload_part_url: (b) => {
      if (!large.has(b.fileId)) throw new B2Failure(400, 'bad_request', `No active upload for: ${b.fileId}`);
      stats.partUrls++;
      return { fileId: b.fileId, ...uploadUrl({ kind: 'part', fileId: b.fileId }, `b2_upload_part/${b.fileId}`) };
    },
    b2_finish_large_file: (b) => {
      const lf = large.get(b.fileId);
      if (!lf) throw new B2Failure(400, 'bad_request', `No active upload for: ${b.fileId}`);
      const shas: string[] = b.partSha1Array ?? [];
      if (shas.length === 0 || shas.length !== lf.parts.size) throw new B2Failure(400, 'bad_request', 'partSha1Array does not match the parts uploaded');
      const parts = shas.map((s, i) => {
        const p = lf.parts.get(i + 1);
        if (!p || p.sha1 !== s) throw new B2Failure(400, 'bad_request', `part ${i + 1} sha1 mismatch or missing`);
        if (i < shas.length - 1 && p.data.length < minPartSize) throw new B2Failure(400, 'bad_request', `part ${i + 1} is smaller than ${minPartSize} bytes`);
        return p.data;
      });
      large.delete(lf.fileId);
      const v: Version = { fileId: lf.fileId, fileName: lf.fileName, action: 'upload', data: Buffer.concat(parts), contentSha1: 'none', contentType: lf.contentType, fileInfo: lf.fileInfo, uploadTimestamp: now() };
      addVersion(lf.bucketId, v);
      stats.largeFinished++;
      return fileJson(v);
    },
    b2_cancel_large_file: (b) => {
      const lf = large.get(b.fileId);
      if (!lf) throw new B2Failure(400, 'bad_request', `No active upload for: ${b.fileId}`);
      large.delete(lf.fileId);
      stats.largeCancelled++;
      return { accountId, bucketId: lf.bucketId, fileId: lf.fileId, fileName: lf.fileName };
    },
  };

  /** Checks X-Bz-Content-Sha1 (a hex header or hex_digits_at_end) and returns the payload. */
  function verifiedPayload(req: http.IncomingMessage, body: Buffer): { data: Buffer; sha: string } {
    const declared = Number(req.headers['content-length']);
    if (!Number.isFinite(declared) || declared !== body.length) throw new B2Failure(400, 'bad_request', 'Content-Length does not match the body');
    const h = String(req.headers['x-bz-content-sha1'] ?? '');
    let data = body;
    let expected = h;
    if (h === 'hex_digits_at_end') {
      if (body.length < 40) throw new B2Failure(400, 'bad_request', 'body too short for hex_digits_at_end');
      data = body.subarray(0, body.length - 40);
      expected = body.subarray(body.length - 40).toString();
    } else if (!/^[0-9a-f]{40}$/i.test(h)) {
      throw new B2Failure(400, 'bad_request', 'missing or malformed X-Bz-Content-Sha1');
    }
    const sha = sha1(data);
    if (sha !== expected.toLowerCase()) throw new B2Failure(400, 'bad_request', 'Sha1 did not match data received');
    return { data, sha };
  }

  function upload(req: http.IncomingMessage, body: Buffer, kind: 'file' | 'part') {
    const tok = uploadTokens.get(req.headers.authorization ?? '');
    if (!tok || tok.target.kind !== kind) throw new B2Failure(401, 'bad_auth_token', 'Invalid upload authorization token');
    if (tok.expired) throw new B2Failure(401, 'expired_auth_token', 'Upload authorization token has expired');
    const { data, sha } = verifiedPayload(req, body);
    stats.uploads++;
    if (tok.target.kind === 'part') {
      const lf = large.get(tok.target.fileId);
      if (!lf) throw new B2Failure(400, 'bad_request', 'large file is not active');
      const n = Number(req.headers['x-bz-part-number']);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new B2Failure(400, 'bad_request', 'bad X-Bz-Part-Number');
      lf.parts.set(n, { data, sha1: sha });
      return { fileId: lf.fileId, partNumber: n, contentLength: data.length, contentSha1: sha };
    }
    const fileName = decodeURIComponent(String(req.headers['x-bz-file-name'] ?? ''));
    if (!fileName) throw new B2Failure(400, 'bad_request', 'missing X-Bz-File-Name');
    const fileInfo: Record<string, string> = {};
    for (const [h, v] of Object.entries(req.headers)) {
      if (h.startsWith('x-bz-info-')) fileInfo[h.slice('x-bz-info-'.length)] = decodeURIComponent(String(v));
    }
    const v: Version = { fileId: newId(), fileName, action: 'upload', data, contentSha1: sha, contentType: String(req.headers['content-type'] ?? 'b2/x-auto'), fileInfo, uploadTimestamp: now() };
    addVersion(tok.target.bucketId, v);
    return fileJson(v);
  }

  function download(req: http.IncomingMessage, res: http.ServerResponse, v: Version | undefined, what: string): void {
    if (!v || v.action !== 'upload') throw new B2Failure(404, 'not_found', `File not present: ${what}`);
    let start = 0;
    let end = v.data.length - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= v.data.length) throw new B2Failure(416, 'range_not_satisfiable', `bad range ${range}`);
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), end) : end;
      status = 206;
      res.setHeader('content-range', `bytes ${start}-${end}/${v.data.length}`);
    }
    res.writeHead(status, {
      'content-length': String(end - start + 1), 'content-type': v.contentType, 'accept-ranges': 'bytes',
      'x-bz-file-id': v.fileId, 'x-bz-file-name': encodeURIComponent(v.fileName), 'x-bz-content-sha1': v.contentSha1,
      'x-bz-upload-timestamp': String(v.uploadTimestamp),
    });
    res.end(req.method === 'HEAD' ? undefined : v.data.subarray(start, end + 1));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const api = /^\/b2api\/v[12]\/([a-z_0-9]+)(\/.*)?$/.exec(url.pathname);
    const isUpload = api?.[1] === 'b2_upload_file' || api?.[1] === 'b2_upload_part';
    // B2 wants one upload at a time per URL; count violations so tests can assert there are none.
    const tok = isUpload ? uploadTokens.get(req.headers.authorization ?? '') : undefined;
    if (tok?.busy) stats.uploadUrlSharing++;
    if (tok) tok.busy = true;
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } finally {
      if (tok) tok.busy = false;
    }
    const body = Buffer.concat(chunks);
    if (pending.fail > 0) {
      pending.fail--;
      throw new B2Failure(503, 'service_unavailable', 'injected: service unavailable');
    }
    if (pending.tooMany > 0 && api?.[1] !== 'b2_authorize_account') {
      pending.tooMany--;
      res.setHeader('retry-after', String(pending.tooManyAfter));
      throw new B2Failure(429, 'too_many_requests', 'injected: too many requests');
    }
    if (isUpload && pending.busy > 0) {
      pending.busy--;
      throw new B2Failure(503, 'service_unavailable', 'injected: upload URL busy, get a new one');
    }
    if (api?.[1] === 'b2_authorize_account') return json(res, 200, authorize(req));
    if (isUpload) return json(res, 200, upload(req, body, api![1] === 'b2_upload_file' ? 'file' : 'part'));
    if (api?.[1] === 'b2_download_file_by_id') {
      checkAccountToken(req);
      return download(req, res, byId.get(url.searchParams.get('fileId') ?? ''), url.searchParams.get('fileId') ?? '');
    }
    if (api) {
      const fn = calls[api[1]!];
      if (!fn) throw new B2Failure(400, 'bad_request', `unsupported call ${api[1]}`);
      if (req.method !== 'POST') throw new B2Failure(405, 'method_not_allowed', `${api[1]} wants POST`);
      checkAccountToken(req);
      let args: Record<string, any>;
      try {
        args = JSON.parse(body.toString() || '{}');
      } catch {
        throw new B2Failure(400, 'bad_request', 'body is not JSON');
      }
      return json(res, 200, fn(args));
    }
    const file = /^\/file\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (file && (req.method === 'GET' || req.method === 'HEAD')) {
      checkAccountToken(req);
      const b = [...buckets.values()].find((x) => x.bucketName === decodeURIComponent(file[1]!));
      if (!b) throw new B2Failure(404, 'not_found', `Bucket not found: ${file[1]}`);
      const name = file[2]!.split('/').map(decodeURIComponent).join('/');
      return download(req, res, b.files.get(name)?.[0], name);
    }
    throw new B2Failure(404, 'not_found', `no such endpoint: ${url.pathname}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      const f = e instanceof B2Failure ? e : new B2Failure(500, 'internal_error', String((e as Error)?.message ?? e));
      if (res.headersSent) return res.destroy();
      json(res, f.status, { status: f.status, code: f.code, message: f.message }, req.method === 'HEAD');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  return {
    url: base, port, keyId, key, bucketName, stats,
    faults: {
      expireTokens() {
        for (const t of accountTokens.values()) t.expired = true;
        for (const t of uploadTokens.values()) t.expired = true;
      },
      busyUploads: (count) => void (pending.busy = count),
      tooManyRequests(count, retryAfterSeconds) {
        pending.tooMany = count;
        pending.tooManyAfter = retryAfterSeconds;
      },
      failNext: (count) => void (pending.fail = count),
    },
    versionsOf: (fileName) => (buckets.get(bucketId)!.files.get(fileName) ?? []).map((v) => ({ fileId: v.fileId, fileInfo: v.fileInfo })),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: http.ServerResponse, status: number, body: unknown, headOnly = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(headOnly ? undefined : text);
}

/** The emulator as a live server for the CLI tests and the benchmark (test/servers/types.ts). */
export async function start(): Promise<LiveServer & { emulator: B2Emulator }> {
  const emu = await startB2Emulator();
  const run = `run-${crypto.randomBytes(4).toString('hex')}`;
  let n = 0;
  return {
    emulator: emu,
    newUrl: () => `b2://${emu.bucketName}/${run}/r${n++}`,
    env: { B2_APPLICATION_KEY_ID: emu.keyId, B2_APPLICATION_KEY: emu.key, B2_API_URL: emu.url },
    settings: {},
    rclone: () => ({
      config: `[b2emu]\ntype = b2\naccount = ${emu.keyId}\nkey = ${emu.key}\nendpoint = ${emu.url}\nhard_delete = true\n`,
      remote: `b2emu:${emu.bucketName}/${run}/rclone-${n++}`,
    }),
    port: emu.port,
    stop: () => emu.stop(),
  };
}
