#!/usr/bin/env node
// A checking proxy in front of s3rver (npm), the local S3 server of the
// tests. s3rver 3.7.1 does not check SigV4 signatures (its
// lib/middleware/authentication.js: "Signature version 4 calculation is
// unimplemented"), so this proxy checks the signature of every request with
// AWS's own signer, the SignatureV4 class of @smithy/signature-v4 that
// @aws-sdk/client-s3 and @aws-sdk/s3-request-presigner sign with, and
// answers what S3 would answer to a bad one before s3rver sees it.
//
//   node proxy.mjs --port N --upstream http://127.0.0.1:PORT
//        --access-key KEY --secret SECRET [--access-key K2 --secret S2 ...]
//        --region us-east-1 [--modules DIR] [--host ADDR] [--public]
//
// Prints "listening PORT" once ready. The AWS modules come from --modules
// DIR, else from $NODE_PATH, else the tree's var/npm/node_modules.
//
// What is whose: the proxy parses the request (the X-Amz-* parameters, the
// Authorization header) and rebuilds it as an HttpRequest: method, the path
// exactly as received (still percent-encoded), the query decoded, the signed
// headers with their received values. The canonical request, the string to
// sign, the signing key and the signature are all AWS's code: presigned URLs
// go through SignatureV4.presign, Authorization headers through
// SignatureV4.signRequest, and the signature that comes out is compared with
// the one received. The proxy's own rules are S3's around the signature:
// known access key, credential scope, expiry, X-Amz-Expires at most a week,
// host and every x-amz-* header signed.
//
// Conditional writes: s3rver ignores If-None-Match on a PUT. Real S3 honours
// If-None-Match: * (since 2024), and the registry relies on it to create a
// record only if absent, so the PROXY emulates it: such a PUT (or a
// CompleteMultipartUpload) on a key that exists is answered 412 after a HEAD
// to s3rver, under a per-key lock so two racing writers see one winner.
// Conditional deletes likewise: s3rver deletes whatever If-Match says, S3
// (since 2025) deletes only the object whose ETag is the one given, else
// answers 412, and 404 NoSuchKey when there is none; the registry removes
// a build's claim only while it is the claim it read or made.
//
// Test control (unsigned JSON under /_proxy/, never forwarded):
//   POST /_proxy/faults {"status":503,"count":2,"method":"PUT",
//        "path_prefix":"/nixery/layers/","delay_ms":0,"drop":false}
//   DELETE /_proxy/faults, GET /_proxy/faults
//   GET|DELETE /_proxy/log      [{method, path, query_keys, status, signed, verified}]
//        path decoded, without the query; query_keys without X-Amz-*; status 0
//        for a connection cut (a drop); "error" and "fault" when the proxy
//        answered itself
//   GET|POST /_proxy/conditional {"enabled":true}
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>';
const MAX_EXPIRES = 604800;              // S3's limit on X-Amz-Expires: a week
const MAX_SKEW = 15 * 60;                // how far a request's date may be off the clock
const MAX_SINGLE_PUT = 5 * 1024 ** 3;    // S3 refuses larger single PUTs and parts
const DROP_AFTER = 16 * 1024;            // a dropped upload is cut after this much
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
  'upgrade', 'te', 'trailer', 'expect']);

function usage(why) {
  process.stderr.write(`proxy.mjs: ${why}\nusage: node proxy.mjs --port N --upstream URL ` +
    '--access-key KEY --secret SECRET --region REGION [--modules DIR] [--host ADDR] [--public]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: null, host: '127.0.0.1', upstream: null, keys: [], secrets: [], region: null,
    modules: null, public: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--port') o.port = Number(value());
    else if (a === '--host') o.host = value();
    else if (a === '--upstream') o.upstream = new URL(value());
    else if (a === '--access-key') o.keys.push(value());
    else if (a === '--secret') o.secrets.push(value());
    else if (a === '--region') o.region = value();
    else if (a === '--modules') o.modules = value();
    else if (a === '--public') o.public = true;   // unsigned GET/HEAD pass, as on a public-read bucket
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage('--port N is needed (0: any)');
  if (!o.upstream || o.upstream.protocol !== 'http:') usage('--upstream http://HOST:PORT is needed');
  if (!o.keys.length || o.keys.length !== o.secrets.length) usage('each --access-key needs its --secret');
  if (!o.region) usage('--region is needed');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const credentials = new Map(opts.keys.map((k, i) => [k, { accessKeyId: k, secretAccessKey: opts.secrets[i] }]));

// AWS's code, from the tests' own node_modules rather than wherever this file lives.
const modulesDir = opts.modules ?? process.env.NODE_PATH?.split(path.delimiter).find(Boolean) ??
  new URL('../../var/npm/node_modules', import.meta.url).pathname;
const requireAws = createRequire(path.join(path.resolve(modulesDir), 'proxy-resolve.js'));
const sigv4 = requireAws('@smithy/signature-v4');
const { HttpRequest } = requireAws('@smithy/core/protocols');
const { Sha256 } = requireAws('@smithy/core/checksum');   // the hash client-s3 signs with in Node
const { SignatureV4, ALGORITHM_IDENTIFIER, UNSIGNED_PAYLOAD } = sigv4;

const signerFor = (cred) => new SignatureV4({ credentials: cred, region: opts.region, service: 's3',
  sha256: Sha256, uriEscapePath: false, applyChecksum: false });
// S3 signs the path as sent, encoded once (uriEscapePath: false), which is
// what AWS's S3 presigner does too: no normalising, no second encoding.

let faults = [];
let log = [];
let conditional = true;
const keyLocks = new Map();              // decoded path -> tail of the queue of conditional writes and deletes

class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    Object.assign(this, { status, code, extra });
  }
}
const queryError = (message) => new S3Error(400, 'AuthorizationQueryParametersError', message);

const xmlEscape = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);

function decode(s) {
  try { return decodeURIComponent(s); } catch { throw new S3Error(400, 'InvalidURI', `Couldn't parse the specified URI: ${s}`); }
}

// The query as [name, value] pairs. A '+' stays a '+': the presigner writes
// %2B and %20, and only form encoding makes a '+' a space.
function parseQuery(raw) {
  if (!raw) return [];
  return raw.split('&').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    return i < 0 ? [decode(kv), ''] : [decode(kv.slice(0, i)), decode(kv.slice(i + 1))];
  });
}

// HttpRequest.query holds a string per name, or an array for a repeated one.
function queryObject(pairs) {
  const q = {};
  for (const [k, v] of pairs) {
    if (!Object.hasOwn(q, k)) q[k] = v;
    else q[k] = [].concat(q[k], v);
  }
  return q;
}

// Clients still sending a body see a reset, not the answer, unless the body
// is read first.
function drained(req) {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    req.on('end', resolve).on('close', resolve).resume();
  });
}

async function sendError(req, res, err, entry) {
  const extra = Object.entries(err.extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  const body = `${XML_DECL}<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>` +
    `${extra}<RequestId>${crypto.randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
  if (entry) entry.error = err.code;
  await drained(req);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(err.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// --- Signatures ----------------------------------------------------------

// X-Amz-Date's basic ISO form to a Date; a real date survives the round trip.
function parseAmzDate(s, what) {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(s ?? '');
  const d = m && new Date(Date.UTC(m[1], m[2] - 1, m[3], m[4], m[5], m[6]));
  if (!d || d.toISOString().replace(/[-:]|\.000/g, '') !== s)
    throw new S3Error(403, 'AccessDenied', `${what} must be a date like 20240101T000000Z, not ${s}`);
  return d;
}

// KEY/DAY/REGION/s3/aws4_request: the credentials it names, or S3's refusal.
function parseCredential(text, amzDate, bad) {
  const [key, day, region, service, terminator, ...rest] = (text ?? '').split('/');
  if (rest.length || !key || !terminator)
    throw bad(`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const cred = credentials.get(key);
  if (!cred)
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: key });
  if (day !== amzDate.slice(0, 8))
    throw bad(`Error parsing the X-Amz-Credential parameter; invalid date. Date is not the same as X-Amz-Date: "${day}".`);
  if (region !== opts.region)
    throw bad(`Error parsing the X-Amz-Credential parameter; the region '${region}' is wrong; expecting '${opts.region}'`);
  if (service !== 's3')
    throw bad(`Error parsing the X-Amz-Credential parameter; incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminator !== 'aws4_request')
    throw bad(`Error parsing the X-Amz-Credential parameter; incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  return cred;
}

// The signed headers, lower-case names joined by ';', each with the value
// received; host must be among them, and so must every x-amz-* header sent:
// S3 acts on those, so one left unsigned could change what the URL does.
function signedHeaderValues(req, list) {
  const names = (list ?? '').split(';');
  if (names.some((h) => !h || h !== h.toLowerCase()))
    throw new S3Error(400, 'AuthorizationQueryParametersError', 'SignedHeaders must be lower-case names joined by ";".');
  if (!names.includes('host'))
    throw new S3Error(403, 'AccessDenied', 'The host header must be signed.', { SignedHeaders: list });
  const unsigned = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-') && !names.includes(h));
  if (unsigned.length)
    throw new S3Error(403, 'AccessDenied', 'There were headers present in the request which were not signed',
      { HeadersNotSigned: unsigned.join(', ') });
  const headers = {};
  for (const h of names) {
    if (req.headers[h] === undefined)
      throw new S3Error(403, 'SignatureDoesNotMatch', `The request signed header ${h} but does not send it.`);
    headers[h] = Array.isArray(req.headers[h]) ? req.headers[h].join(',') : req.headers[h];
  }
  return { names, headers };
}

// On a mismatch S3 shows what it signed; so does this, computed by the
// library's own canonicalisation from the request it signed.
async function mismatch(signer, signedRequest, scopeDate, longDate, payloadHash, unsignable, signable, message) {
  const canonicalHeaders = sigv4.getCanonicalHeaders(signedRequest, unsignable, signable);
  const canonical = signer.createCanonicalRequest(signedRequest, canonicalHeaders, payloadHash);
  const scope = sigv4.createScope(scopeDate, opts.region, 's3');
  const toSign = await signer.createStringToSign(longDate, scope, canonical, ALGORITHM_IDENTIFIER);
  return new S3Error(403, 'SignatureDoesNotMatch', message ??
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    { StringToSign: toSign, CanonicalRequest: canonical });
}

const sameHex = (a, b) => a.length === b.length && crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));
// The library's signers drop these from a request before signing it.
const GENERATED = new Set(sigv4.GENERATED_HEADERS);

// A presigned URL: the library presigns the rebuilt request at the URL's
// date, for its expiry; the X-Amz-Signature it makes must be the one sent.
async function checkPresigned(req, rawPath, pairs) {
  const q = {};
  for (const [k, v] of pairs) {
    if (!k.startsWith('X-Amz-')) continue;
    if (Object.hasOwn(q, k)) throw queryError(`${k} is given more than once.`);
    q[k] = v;
  }
  for (const n of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'])
    if (q[n] === undefined)
      throw queryError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, ' +
        'X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
  if (q['X-Amz-Algorithm'] !== ALGORITHM_IDENTIFIER) throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  if (q['X-Amz-Security-Token'] !== undefined)
    throw new S3Error(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  const date = parseAmzDate(q['X-Amz-Date'], 'X-Amz-Date');
  const cred = parseCredential(q['X-Amz-Credential'], q['X-Amz-Date'], queryError);
  if (!/^(0|[1-9]\d*)$/.test(q['X-Amz-Expires'])) throw queryError('X-Amz-Expires should be a number');
  const expires = Number(q['X-Amz-Expires']);
  if (expires > MAX_EXPIRES) throw queryError(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_EXPIRES}`);
  const now = Date.now();
  if (now > date.getTime() + expires * 1000)
    throw new S3Error(403, 'AccessDenied', 'Request has expired', { 'X-Amz-Expires': expires,
      Expires: new Date(date.getTime() + expires * 1000).toISOString().replace(/\.\d+/, ''),
      ServerTime: new Date(now).toISOString().replace(/\.\d+/, '') });
  if (date.getTime() > now + MAX_SKEW * 1000)
    throw new S3Error(403, 'AccessDenied', 'Request is not valid yet');
  const { names, headers } = signedHeaderValues(req, q['X-Amz-SignedHeaders']);
  if (names.some((h) => GENERATED.has(h)))
    throw new S3Error(403, 'SignatureDoesNotMatch', `This proxy cannot check a presigned URL that signs ${names.join(';')}.`);

  // presign() hoists x-amz-* headers into the query and signs every header
  // it is given: given just the signed headers, kept in place, it signs
  // exactly X-Amz-SignedHeaders. S3 takes the payload of a presigned URL as
  // X-Amz-Content-Sha256 says, UNSIGNED-PAYLOAD if it says nothing; presign()
  // reads it from that header, hoisted back into the query where it came from.
  const query = queryObject(pairs.filter(([k]) => k !== 'X-Amz-Signature' && k !== 'X-Amz-Content-Sha256'));
  const unhoistable = new Set(names);
  const unsignable = new Set();
  const signable = new Set(names);
  if (q['X-Amz-Content-Sha256'] !== undefined) headers['X-Amz-Content-Sha256'] = q['X-Amz-Content-Sha256'];
  else if (!names.includes('x-amz-content-sha256')) {
    headers['x-amz-content-sha256'] = UNSIGNED_PAYLOAD;
    unhoistable.add('x-amz-content-sha256');
    unsignable.add('x-amz-content-sha256');
  }
  const payloadHash = q['X-Amz-Content-Sha256'] ?? headers['x-amz-content-sha256'];
  const request = new HttpRequest({ protocol: 'http:', hostname: req.headers.host.replace(/:\d+$/, ''),
    method: req.method, path: rawPath, query, headers });
  const signer = signerFor(cred);
  const signed = await signer.presign(request, { signingDate: date, expiresIn: expires, signingRegion: opts.region,
    signingService: 's3', unhoistableHeaders: unhoistable, unsignableHeaders: unsignable, signableHeaders: signable });
  const diag = (msg) => mismatch(signer, signed, q['X-Amz-Date'].slice(0, 8), q['X-Amz-Date'], payloadHash,
    unsignable, signable, msg);
  if (signed.query['X-Amz-SignedHeaders'] !== q['X-Amz-SignedHeaders'])
    throw await diag(`The signer signed ${signed.query['X-Amz-SignedHeaders']}, not ${q['X-Amz-SignedHeaders']}.`);
  if (!sameHex(signed.query['X-Amz-Signature'], q['X-Amz-Signature'])) throw await diag();
}

// An Authorization header: the library signs the rebuilt request as of its
// X-Amz-Date; the Signature= it writes must be the one sent.
async function checkHeaderSigned(req, rawPath, pairs) {
  const auth = req.headers.authorization;
  const bad = (m) => new S3Error(400, 'AuthorizationHeaderMalformed', m);
  const m = /^AWS4-HMAC-SHA256 +Credential=([^, ]+), *SignedHeaders=([^, ]+), *Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw bad('The authorization header is malformed; it must be "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".');
  const [, credential, list, signature] = m;
  const amzDate = req.headers['x-amz-date'];
  const date = parseAmzDate(amzDate, 'x-amz-date');
  const cred = parseCredential(credential, amzDate, bad);
  if (Math.abs(Date.now() - date.getTime()) > MAX_SKEW * 1000)
    throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: new Date().toISOString().replace(/\.\d+/, '') });
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (payloadHash.startsWith('STREAMING-'))
    throw new S3Error(501, 'NotImplemented', `This proxy does not check ${payloadHash} (aws-chunked) bodies.`);
  const { names, headers } = signedHeaderValues(req, list);
  if (!names.includes('x-amz-date') || names.some((h) => h !== 'x-amz-date' && GENERATED.has(h)))
    throw new S3Error(403, 'SignatureDoesNotMatch', `This proxy checks requests that sign x-amz-date (and not date): ${list}.`);
  // signRequest() writes x-amz-date itself, from the signing date.
  delete headers['x-amz-date'];
  const unsignable = new Set();
  if (!names.includes('x-amz-content-sha256')) {
    headers['x-amz-content-sha256'] = payloadHash;
    unsignable.add('x-amz-content-sha256');
  }
  const request = new HttpRequest({ protocol: 'http:', hostname: req.headers.host.replace(/:\d+$/, ''),
    method: req.method, path: rawPath, query: queryObject(pairs), headers });
  const signer = signerFor(cred);
  const signable = new Set(names);
  const signed = await signer.signRequest(request, { signingDate: date, signingRegion: opts.region,
    signingService: 's3', signableHeaders: signable, unsignableHeaders: unsignable });
  const got = /SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization);
  const diag = (msg) => mismatch(signer, signed, amzDate.slice(0, 8), amzDate, payloadHash, unsignable, signable, msg);
  if (!got || got[1] !== list) throw await diag(`The signer signed ${got?.[1]}, not ${list}.`);
  if (!sameHex(got[2], signature)) throw await diag();
}

// --- Forwarding ----------------------------------------------------------

const agent = new http.Agent({ keepAlive: true });

function upstreamHeaders(req) {
  const h = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) h[k] = v;
  return h;
}

// Both bodies stream; nothing is held whole. An upstream that fails before
// answering is a 502; after, the client's connection is cut, as S3's would be.
function forward(req, res, entry) {
  return new Promise((resolve) => {
    const up = http.request({ host: opts.upstream.hostname, port: opts.upstream.port, method: req.method,
      path: req.url, headers: upstreamHeaders(req), agent });
    up.on('response', (ur) => {
      const raw = [];
      for (let i = 0; i < ur.rawHeaders.length; i += 2)
        if (!HOP_BY_HOP.has(ur.rawHeaders[i].toLowerCase())) raw.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
      res.writeHead(ur.statusCode, ur.statusMessage, raw);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      if (!res.headersSent) sendError(req, res, new S3Error(502, 'BadGateway', `s3rver did not answer: ${e.message}`), entry);
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      resolve();
    });
    req.on('error', () => up.destroy());
    req.pipe(up);
  });
}

// KEY upstream: whether it exists, and its ETag (an unsigned HEAD, which
// s3rver serves).
function head(rawPath) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: opts.upstream.hostname, port: opts.upstream.port, method: 'HEAD',
      path: rawPath, agent }, (ur) => {
      ur.resume();
      if (ur.statusCode === 200) resolve({ found: true, etag: ur.headers.etag ?? '' });
      else if (ur.statusCode === 404) resolve({ found: false, etag: '' });
      else reject(new Error(`HEAD ${rawPath} answered ${ur.statusCode}`));
    });
    r.on('error', reject).end();
  });
}

// S3 compares ETags without their quotes.
const bareEtag = (e) => String(e).trim().replace(/^W\//, '').replace(/"/g, '');

// The precondition of a conditional PUT (If-None-Match: *) or DELETE
// (If-Match), checked against the object upstream: S3's refusal, or null.
async function precondition(req, rawPath) {
  let now;
  try { now = await head(rawPath); } catch (e) { return new S3Error(500, 'InternalError', e.message); }
  if (req.method !== 'DELETE')
    return now.found ? new S3Error(412, 'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' }) : null;
  if (!now.found) return new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
  const want = req.headers['if-match'];
  if (want.trim() !== '*' && bareEtag(want) !== bareEtag(now.etag))
    return new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
      { Condition: 'If-Match' });
  return null;
}

// Conditional writes and deletes of a key take turns: the HEAD and the PUT
// or DELETE behind it must not interleave with another's, or both could see
// "absent" and write, or a delete remove what a write just put.
async function lockKey(key) {
  const before = keyLocks.get(key) ?? Promise.resolve();
  let release;
  const mine = new Promise((r) => { release = r; });
  const tail = before.then(() => mine);
  keyLocks.set(key, tail);
  await before;
  return () => { release(); if (keyLocks.get(key) === tail) keyLocks.delete(key); };
}

function takeFault(method, p) {
  const i = faults.findIndex((f) => (!f.method || f.method === method) && (!f.path_prefix || p.startsWith(f.path_prefix)));
  if (i < 0) return null;
  const f = faults[i];
  if (--f.count <= 0) faults.splice(i, 1);
  return f;
}

const FAULT_ERRORS = {
  403: ['AccessDenied', 'Access Denied'],
  404: ['NoSuchKey', 'The specified key does not exist.'],
  429: ['TooManyRequests', 'Please reduce your request rate.'],
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

// An interrupted upload: some of the body is read, then the connection is
// cut; nothing reaches s3rver.
function drop(req, res) {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return req.socket.destroy();
  let seen = 0;
  const cut = () => req.socket.destroy();
  req.on('data', (c) => { if ((seen += c.length) >= DROP_AFTER) cut(); }).on('end', cut);
}

async function handle(req, res) {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  if (rawPath.startsWith('/_proxy/')) return control(req, res, rawPath);

  const entry = { method: req.method, path: rawPath, query_keys: [], status: null, signed: false, verified: false };
  log.push(entry);
  res.on('finish', () => { entry.status = res.statusCode; });
  res.on('close', () => { if (entry.status === null) entry.status = 0; });
  let release = null;
  try {
    entry.path = decode(rawPath);
    const pairs = parseQuery(rawQuery);
    entry.query_keys = pairs.map(([k]) => k).filter((k) => !/^x-amz-/i.test(k));
    const presigned = pairs.some(([k]) => k === 'X-Amz-Algorithm');
    const headerSigned = req.headers.authorization !== undefined;
    entry.signed = presigned || headerSigned;
    if (presigned && headerSigned)
      throw new S3Error(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query ' +
        'parameter, Signature query string parameter or the Authorization header should be specified');
    if (!req.headers.host) throw new S3Error(400, 'InvalidRequest', 'A Host header is required.');
    if (presigned) await checkPresigned(req, rawPath, pairs);
    else if (headerSigned) await checkHeaderSigned(req, rawPath, pairs);
    else if (!(opts.public && (req.method === 'GET' || req.method === 'HEAD')))
      throw new S3Error(403, 'AccessDenied', 'Access Denied');
    entry.verified = entry.signed;
    if (Number(req.headers['content-length'] ?? 0) > MAX_SINGLE_PUT)
      throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');

    const fault = takeFault(req.method, entry.path);
    if (fault?.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
    if (fault?.drop) { entry.fault = 'drop'; return drop(req, res); }
    if (fault?.status) {
      entry.fault = fault.status;
      const [code, message] = fault.code ? [fault.code, fault.message ?? fault.code] :
        FAULT_ERRORS[fault.status] ?? ['InjectedFault', `Fault injected by the proxy: ${fault.status}.`];
      throw new S3Error(fault.status, code, message);
    }

    const uploadId = pairs.some(([k]) => k === 'uploadId');
    const ifAbsent = req.headers['if-none-match'] === '*' &&
      ((req.method === 'PUT' && !uploadId) || (req.method === 'POST' && uploadId));
    const ifCurrent = req.method === 'DELETE' && !uploadId && req.headers['if-match'] !== undefined;
    if (conditional && (ifAbsent || ifCurrent)) {
      release = await lockKey(entry.path);
      const refused = await precondition(req, rawPath);
      if (refused) throw refused;
    }
    await forward(req, res, entry);
  } catch (err) {
    if (!(err instanceof S3Error)) {
      process.stderr.write(`proxy: ${req.method} ${req.url}: ${err.stack ?? err}\n`);
      err = new S3Error(500, 'InternalError', `The proxy failed: ${err.message ?? err}`);
    }
    if (err.status === 403 || err.status === 400)
      process.stderr.write(`proxy: ${req.method} ${rawPath} refused: ${err.code}: ${err.message}\n`);
    await sendError(req, res, err, entry);
  } finally {
    release?.();
  }
}

// --- Test control ----------------------------------------------------------

async function readJson(req) {
  let text = '';
  for await (const c of req) {
    text += c;
    if (text.length > 65536) throw new Error('body too large');
  }
  return text ? JSON.parse(text) : {};
}

async function control(req, res, p) {
  try {
    const what = `${req.method} ${p}`;
    if (what === 'GET /_proxy/log') return sendJson(res, 200, log);
    if (what === 'DELETE /_proxy/log') { log = []; return sendJson(res, 200, { cleared: true }); }
    if (what === 'GET /_proxy/faults') return sendJson(res, 200, faults);
    if (what === 'DELETE /_proxy/faults') { faults = []; return sendJson(res, 200, { cleared: true }); }
    if (what === 'POST /_proxy/faults') {
      const f = await readJson(req);
      const fault = { status: Number(f.status ?? 0), code: f.code, message: f.message, count: Number(f.count ?? 1),
        method: f.method ? String(f.method).toUpperCase() : null, path_prefix: f.path_prefix ?? null,
        delay_ms: Number(f.delay_ms ?? 0), drop: Boolean(f.drop) };
      if (!(fault.count > 0) || (!fault.status && !fault.drop && !fault.delay_ms) ||
          (fault.status && !(fault.status >= 400 && fault.status <= 599)))
        return sendJson(res, 400, { error: 'a fault needs count > 0 and a status 400-599, drop or delay_ms' });
      faults.push(fault);
      return sendJson(res, 200, fault);
    }
    if (what === 'GET /_proxy/conditional') return sendJson(res, 200, { enabled: conditional });
    if (what === 'POST /_proxy/conditional') {
      conditional = Boolean((await readJson(req)).enabled);
      return sendJson(res, 200, { enabled: conditional });
    }
    return sendJson(res, 404, { error: `no control ${what}` });
  } catch (e) {
    return sendJson(res, 400, { error: String(e.message ?? e) });
  }
}

const server = http.createServer(handle);
server.requestTimeout = 0;               // uploads of a GiB may take longer than Node's default 5 minutes
server.listen(opts.port, opts.host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
