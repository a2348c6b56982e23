import crypto from 'node:crypto';
import test from 'ava';
import { smithySigner } from './smithy-signer.js';
import { EMPTY_SHA256, SigV4Signer, UNSIGNED_PAYLOAD, amzDate, encodeS3Path } from '../../remotes/s3/sigv4.js';

// The example credentials and day of AWS's "Signature Calculations for the Authorization Header" examples.
const creds = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const date = new Date(Date.UTC(2013, 4, 24));

test('sigv4 › AWS example "GET Object" (Range bytes=0-9) gives the published canonical request and signature', (t) => {
  const out = new SigV4Signer().compute(
    { method: 'GET', path: '/test.txt', headers: { Host: 'examplebucket.s3.amazonaws.com', Range: 'bytes=0-9' }, payloadHash: EMPTY_SHA256, region: 'us-east-1', date },
    creds,
  );
  t.is(
    out.canonicalRequest,
    [
      'GET',
      '/test.txt',
      '',
      'host:examplebucket.s3.amazonaws.com',
      'range:bytes=0-9',
      `x-amz-content-sha256:${EMPTY_SHA256}`,
      'x-amz-date:20130524T000000Z',
      '',
      'host;range;x-amz-content-sha256;x-amz-date',
      EMPTY_SHA256,
    ].join('\n'),
  );
  t.is(
    out.stringToSign,
    'AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972',
  );
  t.is(out.signature, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  t.is(
    out.headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
  );
});

test('sigv4 › AWS example "PUT Object" (key test$file.text, signed payload) gives the published signature', (t) => {
  const body = 'Welcome to Amazon S3.';
  const payloadHash = crypto.createHash('sha256').update(body).digest('hex');
  const out = new SigV4Signer().compute(
    {
      method: 'PUT',
      path: encodeS3Path('/test$file.text'),
      headers: { Host: 'examplebucket.s3.amazonaws.com', Date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
      payloadHash,
      region: 'us-east-1',
      date,
    },
    creds,
  );
  t.true(out.canonicalRequest.startsWith('PUT\n/test%24file.text\n\n'), out.canonicalRequest);
  t.is(out.signature, '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
});

test('sigv4 › key paths are encoded per segment: slashes kept, only A-Za-z0-9-._~ left as they are, UTF-8 bytes in upper-case hex', (t) => {
  t.is(encodeS3Path('/b/p/chunks/ab/x y+z~._-'), '/b/p/chunks/ab/x%20y%2Bz~._-');
  t.is(encodeS3Path('/b/é*(!)\'=&$@:,;'), '/b/%C3%A9%2A%28%21%29%27%3D%26%24%40%3A%2C%3B');
  t.is(amzDate(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))), '20240102T030405Z');
});

test('sigv4 › a session token is sent and signed, and the signature agrees with the AWS SDK signer (Smithy) for the same request', async (t) => {
  const session = { ...creds, sessionToken: 'FQoGZXIvYXdzEXAMPLE//token+with/odd=chars' };
  const headers = { host: '127.0.0.1:9000', 'content-length': '1048576', 'content-type': 'application/octet-stream' };
  const path = encodeS3Path('/ckpt-test/run-1/chunks/ab/abcdef 01');
  const ours = new SigV4Signer().compute({ method: 'PUT', path, headers, payloadHash: UNSIGNED_PAYLOAD, region: 'eu-west-3', date }, session);
  t.is(ours.headers['x-amz-security-token'], session.sessionToken);
  t.regex(ours.headers.authorization!, /SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);

  const smithy = smithySigner(session, 'eu-west-3');
  const signed = await smithy.sign(
    {
      method: 'PUT',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 9000,
      path,
      query: {},
      headers: { ...headers, 'x-amz-content-sha256': UNSIGNED_PAYLOAD },
    },
    { signingDate: date },
  );
  // Smithy separates the three parts with ', ', we with ',' (both are accepted); the parts are identical.
  t.is(ours.headers.authorization, String(signed.headers.authorization).replace(/, /g, ','));
});

test('sigv4 › the signing key is cached per day: a new day gives a different signature for the same request', (t) => {
  const signer = new SigV4Signer();
  const req = { method: 'GET', path: '/k', headers: { host: 'h' }, payloadHash: EMPTY_SHA256, region: 'us-east-1' };
  const a = signer.compute({ ...req, date }, creds).signature;
  const b = signer.compute({ ...req, date: new Date(date.getTime() + 86_400_000) }, creds).signature;
  const a2 = signer.compute({ ...req, date }, creds).signature;
  t.not(a, b);
  t.is(a, a2);
});
