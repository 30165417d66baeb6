#!/usr/bin/env node
// A stand-in for Google Cloud Storage's XML API, for tests only: the real
// service cannot run here. It serves path-style /BUCKET/OBJECT requests
// (simple and resumable uploads, server-side copies, reads, ranges, deletes,
// listings) from files under a directory, and it checks the V4 signature
// (GOOG4-RSA-SHA256 query-string signed URLs) of every signed request the
// way https://cloud.google.com/storage/docs/authentication/signatures
// describes, so a signer that Google would refuse is refused here too.
// It also plays Compute Engine's metadata server for a machine's service
// account (GET /computeMetadata/v1/instance/service-accounts/default/token,
// with Metadata-Flavor: Google), and takes only the OAuth2 bearer tokens it
// gave out, until they expire.
//
//   node server.mjs --port N --dir DIR --key SERVICE_ACCOUNT.json
//        --bucket NAME [--bucket NAME2 ...] [--public] [--host ADDR]
//
// Prints "listening PORT" once ready. Nothing survives a restart: the named
// buckets start empty. Test control (not GCS) lives under /_standin/:
// faults to inject, a log of requests, the objects with their SHA-256 and
// generation, writing an object by hand, and making an object older.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const XML = 'application/xml; charset=UTF-8';
const XML_DECL = "<?xml version='1.0' encoding='UTF-8'?>";
const MAX_EXPIRES = 604800;          // seven days, GCS's limit
const MAX_SKEW = 15 * 60;            // how far in the future X-Goog-Date may be
const QUANTUM = 256 * 1024;          // GCS persists resumable chunks in these

function usage(why) {
  process.stderr.write(`server.mjs: ${why}\nusage: node server.mjs --port N --dir DIR ` +
    '--key SERVICE_ACCOUNT.json --bucket NAME [--bucket NAME2] [--public] [--host ADDR]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: null, host: '127.0.0.1', dir: null, keys: [], buckets: [], public: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--port') o.port = Number(value());
    else if (a === '--host') o.host = value();
    else if (a === '--dir') o.dir = value();
    else if (a === '--key') o.keys.push(value());
    else if (a === '--bucket') o.buckets.push(value());
    else if (a === '--public') o.public = true;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage('--port N is needed (0: any)');
  if (!o.dir || !o.keys.length || !o.buckets.length) usage('--dir, --key and --bucket are needed');
  for (const b of o.buckets)
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(b)) usage(`${b} is not a bucket name`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// Only public keys are kept: the stand-in verifies, it never signs.
const accounts = new Map();
for (const file of opts.keys) {
  const sa = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!sa.client_email || !sa.private_key) usage(`${file} has no client_email and private_key`);
  accounts.set(sa.client_email, crypto.createPublicKey(sa.private_key));
}

// Objects live in DIR/BUCKET/<sha256 of the name>: any name (slashes, "..",
// 1024 bytes of UTF-8) maps to one flat, safe file name. Uploads go to
// DIR/.standin-tmp first and are renamed into place, so a crash never
// leaves a partial object, and readers holding the old file keep reading
// the old generation. Object files are never written in place, which is
// what lets a copy be a hard link.
const TMP = path.join(opts.dir, '.standin-tmp');
fs.rmSync(TMP, { recursive: true, force: true });
fs.mkdirSync(TMP, { recursive: true });
const buckets = new Map();           // bucket -> Map(name -> metadata)
for (const b of opts.buckets) {
  fs.rmSync(path.join(opts.dir, b), { recursive: true, force: true });
  fs.mkdirSync(path.join(opts.dir, b));
  buckets.set(b, new Map());
}
const objectFile = (bucket, name) =>
  path.join(opts.dir, bucket, crypto.createHash('sha256').update(name).digest('hex'));
const tmpFile = () => path.join(TMP, crypto.randomBytes(12).toString('hex'));

// GCS generations are microsecond timestamps; they only need to grow here.
let lastGeneration = 0;
const newGeneration = () => (lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000));

const sessions = new Map();          // upload_id -> resumable upload
let faults = [];
// The access tokens given out, with when they expire (ms).
const tokens = new Map();
const TOKEN_SECONDS = 3600;
const log = [];

class GcsError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    Object.assign(this, { status, code, extra });
  }
}
const malformed = (param, details) =>
  new GcsError(400, 'MalformedSecurityHeader', 'Your request has a malformed header.',
    { ParameterName: param, Details: details });
const invalid = (details) => new GcsError(400, 'InvalidArgument', 'Invalid argument.', { Details: details });
const noSuchKey = () => new GcsError(404, 'NoSuchKey', 'The specified key does not exist.');

const xmlEscape = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);

// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~ (what
// Google's libraries sign with; encodeURIComponent alone spares !'()*).
const encode = (s) => encodeURIComponent(s)
  .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function decode(s) {
  try { return decodeURIComponent(s); } catch { throw new GcsError(400, 'InvalidURI', `Cannot decode ${s}`); }
}

// A '+' stays a '+': in a URL only the form encoding makes it a space, and
// a signer that meant a space had to write %20 in what it signed anyway.
function parseQuery(raw) {
  if (!raw) return [];
  return raw.split('&').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    return i < 0 ? [decode(kv), ''] : [decode(kv.slice(0, i)), decode(kv.slice(i + 1))];
  });
}

// The body has to be read before an answer goes out, or clients still
// sending it see a reset instead of the status.
function drained(req) {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    req.on('end', resolve).on('close', resolve).resume();
  });
}

async function sendError(req, res, err) {
  const extra = Object.entries(err.extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  const body = `${XML_DECL}<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}` +
    `</Message>${extra}</Error>`;
  await drained(req);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(err.status, { 'Content-Type': XML, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// --- Signature checking -------------------------------------------------

function authenticate(req, canonicalPath, query) {
  const param = (name) => query.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  for (const n of ['X-Goog-Algorithm', 'X-Goog-Credential', 'X-Goog-Date', 'X-Goog-Expires',
    'X-Goog-SignedHeaders'])
    if (param(n) === undefined) throw malformed(n, `The signed URL has no ${n}.`);
  if (param('X-Goog-Algorithm') !== 'GOOG4-RSA-SHA256')
    throw malformed('X-Goog-Algorithm', 'Only GOOG4-RSA-SHA256 is accepted.');

  const date = param('X-Goog-Date');
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(date);
  const when = m && Date.UTC(m[1], m[2] - 1, m[3], m[4], m[5], m[6]) / 1000;
  // Date.UTC wraps a 13th month or a 61st second over; a real date survives the round trip.
  if (!m || new Date(when * 1000).toISOString().replace(/[-:]|\.000/g, '') !== date)
    throw malformed('X-Goog-Date', 'X-Goog-Date must be in ISO basic form, e.g. 20190201T090000Z.');
  const expiresText = param('X-Goog-Expires');
  const expires = Number(expiresText);
  if (!/^\d+$/.test(expiresText) || expires < 1 || expires > MAX_EXPIRES)
    throw malformed('X-Goog-Expires', `X-Goog-Expires must be 1 to ${MAX_EXPIRES} seconds.`);

  const [email, day, region, service, terminator, ...rest] = param('X-Goog-Credential').split('/');
  if (rest.length || !email || day !== date.slice(0, 8) || !region || service !== 'storage' ||
      terminator !== 'goog4_request')
    throw malformed('X-Goog-Credential',
      'The credential must be EMAIL/<day of X-Goog-Date>/<location>/storage/goog4_request.');
  const key = accounts.get(email);
  if (!key) throw new GcsError(403, 'AccessDenied', 'Access denied.', { Details: `${email} is not a known service account.` });

  const now = Date.now() / 1000;
  if (when > now + MAX_SKEW)
    throw invalid(`X-Goog-Date ${date} is more than ${MAX_SKEW} s in the future.`);
  if (now > when + expires)
    throw new GcsError(400, 'ExpiredToken', 'The provided token has expired.',
      { Details: `Request has expired: ${when + expires}` });

  const signedList = param('X-Goog-SignedHeaders');
  const signed = signedList.split(';');
  if (signed.some((h) => !h || h !== h.toLowerCase()))
    throw malformed('X-Goog-SignedHeaders', 'Signed headers are lower-case names joined by ";".');
  if (!signed.includes('host'))
    throw malformed('X-Goog-SignedHeaders', 'The host header must be signed.');
  // GCS acts on x-goog-* headers (preconditions, copies), so one the signer
  // did not cover would let anyone holding the URL change what it does.
  for (const h of Object.keys(req.headers))
    if (h.startsWith('x-goog-') && !signed.includes(h))
      throw malformed(h, `Header ${h} was present in the request but not in the signed headers.`);
  const canonicalHeaders = signed.map((h) => {
    const values = req.headersDistinct[h];
    if (!values) throw malformed(h, 'Header was included in signedheaders, but not in the request.');
    // Google's client libraries sign the host without a port.
    let v = h === 'host' ? values[0].replace(/:\d+$/, '') : values.join(',');
    v = v.trim().replace(/\s{2,}/g, ' ');
    return `${h}:${v}\n`;
  }).join('');

  const canonicalQuery = query
    .filter(([k]) => k.toLowerCase() !== 'x-goog-signature')
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const payload = req.headers['x-goog-content-sha256'] ?? 'UNSIGNED-PAYLOAD';
  const canonical = [req.method, canonicalPath, canonicalQuery, canonicalHeaders, signedList, payload]
    .join('\n');
  const toSign = ['GOOG4-RSA-SHA256', date, `${day}/${region}/storage/goog4_request`,
    crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');

  const signature = param('X-Goog-Signature');
  const ok = /^([0-9a-fA-F]{2})+$/.test(signature) &&
    crypto.verify('sha256', Buffer.from(toSign), key, Buffer.from(signature, 'hex'));
  if (!ok)
    throw new GcsError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not ' +
      'match the signature you provided. Check your Google secret key and signing method.',
      { StringToSign: toSign, CanonicalRequest: canonical });
}

// --- Objects --------------------------------------------------------------

function generationMatch(req) {
  const v = req.headers['x-goog-if-generation-match'];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw invalid(`x-goog-if-generation-match is not a number: ${v}`);
  return Number(v);
}

// 0 means "only if there is none"; any other number, "only if that one is current".
function checkPrecondition(want, meta) {
  if (want === undefined) return;
  if (want === 0 ? meta : !meta || meta.generation !== want)
    throw new GcsError(412, 'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold.',
      { Details: 'Failed condition: x-goog-if-generation-match' });
}

const newHashes = () => ({ md5: crypto.createHash('md5'), sha256: crypto.createHash('sha256') });
const digests = (h) => ({ md5: h.md5.digest(), sha256: h.sha256.digest('hex') });

// Streams the request body into file from byte `start`, hashing what lies
// below the absolute offset `hashUpTo` into copies of `hashes`: a chunk
// that fails or is only partly kept leaves its session's hashes as they were.
async function receive(req, file, { start = 0, flags = 'w', hashes = newHashes(), hashUpTo = Infinity } = {}) {
  const h = { md5: hashes.md5.copy(), sha256: hashes.sha256.copy() };
  let pos = start;
  const tap = new Transform({
    transform(chunk, _enc, done) {
      const keep = Math.max(0, Math.min(chunk.length, hashUpTo - pos));
      if (keep) {
        h.md5.update(chunk.subarray(0, keep));
        h.sha256.update(chunk.subarray(0, keep));
      }
      pos += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(req, tap, fs.createWriteStream(file, { flags, start }));
  return { received: pos - start, hashes: h };
}

// Synchronous from the precondition to the rename, so that no other request
// sees the check pass and then the object change under it.
function commit(bucket, name, tmp, info, want) {
  const objects = buckets.get(bucket);
  try {
    checkPrecondition(want, objects.get(name));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const file = objectFile(bucket, name);
  fs.renameSync(tmp, file);
  const meta = { ...info, file, generation: newGeneration(), updated: new Date() };
  objects.set(name, meta);
  return meta;
}

const objectHeaders = (meta) => ({
  'x-goog-generation': String(meta.generation),
  'x-goog-metageneration': '1',
  'x-goog-stored-content-length': String(meta.size),
  'x-goog-stored-content-encoding': 'identity',
  'x-goog-hash': `md5=${meta.md5.toString('base64')}`,
  ETag: `"${meta.md5.toString('hex')}"`,
  'Last-Modified': meta.updated.toUTCString(),
});

function sendStored(res, meta) {
  res.writeHead(200, { ...objectHeaders(meta), 'Content-Length': 0 });
  res.end();
}

async function putObject(req, res, bucket, name) {
  const want = generationMatch(req);
  const tmp = tmpFile();
  let got;
  try {
    got = await receive(req, tmp);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const info = { size: got.received, ...digests(got.hashes),
    contentType: req.headers['content-type'] || 'application/octet-stream' };
  const claimed = req.headers['x-goog-content-sha256'];
  if (claimed && claimed !== 'UNSIGNED-PAYLOAD' && claimed.toLowerCase() !== info.sha256) {
    fs.rmSync(tmp, { force: true });
    throw new GcsError(400, 'BadDigest', 'The SHA-256 you specified did not match what we received.');
  }
  sendStored(res, commit(bucket, name, tmp, info, want));
}

async function copyObject(req, res, bucket, name) {
  const want = generationMatch(req);
  await drained(req);
  const source = decode(req.headers['x-goog-copy-source'].replace(/^\//, ''));
  const slash = source.indexOf('/');
  const srcObjects = buckets.get(slash < 0 ? source : source.slice(0, slash));
  if (!srcObjects) throw new GcsError(404, 'NoSuchBucket', 'The specified bucket does not exist.');
  const src = slash < 0 ? undefined : srcObjects.get(source.slice(slash + 1));
  if (!src) throw noSuchKey();
  const tmp = tmpFile();
  fs.linkSync(src.file, tmp);
  const replace = /^replace$/i.test(req.headers['x-goog-metadata-directive'] || '');
  const meta = commit(bucket, name, tmp, {
    size: src.size, md5: src.md5, sha256: src.sha256,
    contentType: replace ? req.headers['content-type'] || 'application/octet-stream' : src.contentType,
  }, want);
  const body = `${XML_DECL}<CopyObjectResult><LastModified>${meta.updated.toISOString()}` +
    `</LastModified><ETag>"${meta.md5.toString('hex')}"</ETag></CopyObjectResult>`;
  res.writeHead(200, { ...objectHeaders(meta), 'Content-Type': XML, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// Returns [start, end] or null for the whole object (no header, or a form
// GCS ignores, such as several ranges).
function parseRange(header, size) {
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start, end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = Number(m[2]) === 0 ? -1 : size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size || end < start)
    throw new GcsError(416, 'InvalidRange', 'The requested range cannot be satisfied.',
      { Details: `${header} of an object of ${size} bytes` });
  return [start, end];
}

async function getObject(req, res, objects, name) {
  await drained(req);
  // From here to openSync nothing awaits: headers and bytes are one generation's.
  const meta = objects.get(name);
  if (!meta) throw noSuchKey();
  checkPrecondition(generationMatch(req), meta);
  const range = parseRange(req.headers.range, meta.size);
  const [start, end] = range ?? [0, meta.size - 1];
  const headers = { ...objectHeaders(meta), 'Content-Type': meta.contentType,
    'Accept-Ranges': 'bytes', 'Content-Length': end - start + 1 };
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
  const fd = req.method === 'GET' && end >= start ? fs.openSync(meta.file, 'r') : null;
  res.writeHead(range ? 206 : 200, headers);
  if (fd === null) return res.end();
  await pipeline(fs.createReadStream(null, { fd, start, end }), res);
}

async function deleteObject(req, res, objects, name) {
  await drained(req);
  const meta = objects.get(name);
  if (!meta) throw noSuchKey();
  checkPrecondition(generationMatch(req), meta);
  fs.unlinkSync(meta.file);
  objects.delete(name);
  res.writeHead(204);
  res.end();
}

// Lists everything at once: no max-keys, no marker, never truncated.
async function listBucket(req, res, bucket, objects, query) {
  await drained(req);
  const param = (n) => query.find(([k]) => k === n)?.[1] ?? '';
  const prefix = param('prefix');
  const delimiter = param('delimiter');
  // GCS orders names by their UTF-8 bytes, which is not JavaScript's order.
  const names = [...objects.keys()].filter((k) => k.startsWith(prefix))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const prefixes = new Set();
  let contents = '';
  for (const k of names) {
    const i = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    if (i >= 0) {
      prefixes.add(k.slice(0, i + delimiter.length));
      continue;
    }
    const m = objects.get(k);
    contents += `<Contents><Key>${xmlEscape(k)}</Key><Generation>${m.generation}</Generation>` +
      `<MetaGeneration>1</MetaGeneration><LastModified>${m.updated.toISOString()}</LastModified>` +
      `<ETag>"${m.md5.toString('hex')}"</ETag><Size>${m.size}</Size></Contents>`;
  }
  const common = [...prefixes].map((p) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`);
  const body = `${XML_DECL}<ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'>` +
    `<Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><Marker></Marker>` +
    (delimiter ? `<Delimiter>${xmlEscape(delimiter)}</Delimiter>` : '') +
    `<IsTruncated>false</IsTruncated>${contents}${common.join('')}</ListBucketResult>`;
  res.writeHead(200, { 'Content-Type': XML, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// --- Resumable uploads ----------------------------------------------------

async function startUpload(req, res, bucket, name, rawPath) {
  if ((req.headers['x-goog-resumable'] || '').toLowerCase() !== 'start')
    throw invalid('A POST to an object starts a resumable upload: it needs x-goog-resumable: start.');
  const want = generationMatch(req);
  await drained(req);
  const id = crypto.randomBytes(24).toString('base64url');
  const file = tmpFile();
  fs.writeFileSync(file, '');
  sessions.set(id, { bucket, name, file, want, received: 0, hashes: newHashes(), busy: false,
    result: null, contentType: req.headers['content-type'] || 'application/octet-stream' });
  res.writeHead(201, { Location: `http://${req.headers.host}${rawPath}?upload_id=${id}`,
    'x-guploader-uploadid': id, 'Content-Length': 0 });
  res.end();
}

function sendIncomplete(res, session) {
  const headers = { 'Content-Length': 0 };
  if (session.received) headers.Range = `bytes=0-${session.received - 1}`;
  res.writeHead(308, 'Resume Incomplete', headers); // GCS's words for it, not a redirect
  res.end();
}

// Content-Range forms: "bytes S-E/*" (more to come), "bytes S-E/TOTAL",
// "bytes */TOTAL" (finish, nothing more to send), "bytes */*" (where are we?),
// none at all (the whole object in this one request).
function parseContentRange(h) {
  if (h === undefined) return { whole: true };
  let m = /^bytes \*\/(\*|\d+)$/.exec(h.trim());
  if (m) return { query: true, total: m[1] === '*' ? null : Number(m[1]) };
  m = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(h.trim());
  if (!m || Number(m[2]) < Number(m[1]) || (m[3] !== '*' && Number(m[2]) >= Number(m[3])))
    throw invalid(`Bad Content-Range: ${h}`);
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

function finishUpload(res, id, s) {
  const info = { size: s.received, ...digests(s.hashes), contentType: s.contentType };
  try {
    s.result = commit(s.bucket, s.name, s.file, info, s.want);
  } catch (e) {
    sessions.delete(id);
    throw e;
  }
  sendStored(res, s.result);
}

async function uploadChunk(req, res, id, s) {
  const cr = parseContentRange(req.headers['content-range']);
  // A finished upload answers again as it did, for a client whose answer was lost.
  if (s.result) return drained(req).then(() => sendStored(res, s.result));
  if (s.busy) {
    await drained(req);
    throw new GcsError(503, 'ServiceUnavailable', 'Another chunk of this upload is still arriving.');
  }
  if (cr.query) {
    await drained(req);
    if (cr.total !== null && cr.total < s.received)
      throw invalid(`${s.received} bytes were received already, more than ${cr.total}.`);
    return cr.total === s.received ? finishUpload(res, id, s) : sendIncomplete(res, s);
  }
  const start = cr.whole ? 0 : cr.start;
  if (start !== s.received) {
    await drained(req);
    throw invalid(`The next chunk must start at byte ${s.received}, not ${start}.`);
  }
  const final = cr.whole || (cr.total !== null && cr.end + 1 === cr.total);
  const length = cr.whole ? null : cr.end - cr.start + 1;
  // Like GCS, keep whole 256 KiB quanta of a chunk that is not the last;
  // the 308's Range tells the client where to go on.
  const keepTo = final ? Infinity : start + Math.floor(length / QUANTUM) * QUANTUM;
  s.busy = true;
  try {
    const got = await receive(req, s.file, { start, flags: 'r+', hashes: s.hashes, hashUpTo: keepTo });
    if (length !== null && got.received !== length)
      throw invalid(`Content-Range announced ${length} bytes, the body had ${got.received}.`);
    const end = final ? start + got.received : keepTo;
    fs.truncateSync(s.file, end);
    s.received = end;
    s.hashes = got.hashes;
  } catch (e) {
    fs.truncateSync(s.file, s.received);
    throw e;
  } finally {
    s.busy = false;
  }
  return final ? finishUpload(res, id, s) : sendIncomplete(res, s);
}

async function cancelUpload(req, res, id, s) {
  await drained(req);
  sessions.delete(id);
  if (!s.result) fs.rmSync(s.file, { force: true });
  res.writeHead(499, 'Client Closed Request', { 'Content-Length': 0 });
  res.end();
}

// --- Faults and test control ---------------------------------------------

const FAULT_CODES = { 400: 'InvalidArgument', 401: 'AuthenticationRequired', 403: 'AccessDenied',
  404: 'NoSuchKey', 408: 'RequestTimeout', 409: 'Conflict', 412: 'PreconditionFailed',
  429: 'TooManyRequests', 500: 'InternalError', 502: 'BadGateway', 503: 'ServiceUnavailable',
  504: 'GatewayTimeout' };

function validFault(f) {
  const ok = f && typeof f === 'object' &&
    (f.status === undefined || (Number.isInteger(f.status) && f.status >= 300 && f.status <= 599)) &&
    (f.count === undefined || (Number.isInteger(f.count) && f.count >= 1)) &&
    (f.delay_ms === undefined || (Number.isFinite(f.delay_ms) && f.delay_ms >= 0)) &&
    (f.method === undefined || typeof f.method === 'string') &&
    (f.path_prefix === undefined || typeof f.path_prefix === 'string');
  if (!ok) throw new Error(`not a fault: ${JSON.stringify(f)}`);
  return { status: f.status, code: f.code, count: f.count ?? 1, method: f.method?.toUpperCase(),
    path_prefix: f.path_prefix ?? '/', delay_ms: f.delay_ms ?? 0, drop: !!f.drop };
}

function takeFault(method, rawPath) {
  let decoded = rawPath;
  try { decoded = decodeURIComponent(rawPath); } catch { /* matched raw only */ }
  const f = faults.find((x) => (!x.method || x.method === method) &&
    (rawPath.startsWith(x.path_prefix) || decoded.startsWith(x.path_prefix)));
  if (f && --f.count === 0) faults = faults.filter((x) => x !== f);
  return f;
}

// An interrupted upload: some of the body arrives, then the connection dies.
function readSome(req) {
  const enough = Math.max(1, Math.min(64 * 1024, Math.floor((Number(req.headers['content-length']) || 0) / 2)));
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    let got = 0;
    req.on('data', (c) => { if ((got += c.length) >= enough) resolve(); });
    req.on('end', resolve).on('close', resolve);
  });
}

async function control(req, res, rawPath) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const route = `${req.method} ${rawPath}`;
  if (route === 'POST /_standin/faults') {
    let added;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      added = (Array.isArray(body) ? body : [body]).map(validFault);
    } catch (e) {
      return sendJson(res, 400, { error: e.message });
    }
    faults.push(...added);
    return sendJson(res, 200, faults);
  }
  if (route === 'GET /_standin/faults') return sendJson(res, 200, faults);
  if (route === 'DELETE /_standin/faults') faults = [];
  else if (route === 'POST /_standin/age') {
    // Makes an object look older, as time would (its Last-Modified).
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return sendJson(res, 400, { error: e.message });
    }
    const meta = buckets.get(body.bucket)?.get(body.name);
    if (!meta || !(body.days > 0)) return sendJson(res, 404, { error: `no object ${body.bucket}/${body.name}` });
    meta.updated = new Date(meta.updated.getTime() - body.days * 86400e3);
  } else if (route === 'POST /_standin/put') {
    // Writes an object by hand, as another client of the bucket would:
    // a new generation, which the answer gives.
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return sendJson(res, 400, { error: e.message });
    }
    if (!buckets.has(body.bucket) || typeof body.name !== 'string' || typeof body.text !== 'string')
      return sendJson(res, 400, { error: 'a put needs bucket (one served), name and text' });
    const bytes = Buffer.from(body.text, 'utf8');
    const tmp = tmpFile();
    fs.writeFileSync(tmp, bytes);
    const meta = commit(body.bucket, body.name, tmp, { size: bytes.length,
      md5: crypto.createHash('md5').update(bytes).digest(),
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      contentType: 'application/octet-stream' });
    return sendJson(res, 200, { generation: meta.generation });
  } else if (route === 'GET /_standin/log') return sendJson(res, 200, log);
  else if (route === 'DELETE /_standin/log') log.length = 0;
  else if (route === 'GET /_standin/objects') {
    const all = [];
    for (const [bucket, objects] of buckets)
      for (const [name, m] of objects)
        all.push({ bucket, name, size: m.size, sha256: m.sha256, generation: m.generation,
          content_type: m.contentType });
    return sendJson(res, 200, all);
  } else return sendJson(res, 404, { error: `no ${route}` });
  res.writeHead(204);
  res.end();
}

// --- Routing ----------------------------------------------------------------

function metadataToken(req, res) {
  if (req.headers['metadata-flavor'] !== 'Google')
    return sendJson(res, 403, { error: 'Missing Metadata-Flavor:Google header.' });
  const token = `ya29.standin-${crypto.randomBytes(24).toString('base64url')}`;
  tokens.set(token, Date.now() + TOKEN_SECONDS * 1000);
  return sendJson(res, 200, { access_token: token, expires_in: TOKEN_SECONDS, token_type: 'Bearer' });
}

// A bearer token is good when this stand-in gave it out and it is not past.
function checkToken(value) {
  const token = /^Bearer (\S+)$/.exec(value)?.[1];
  if (!token || !(tokens.get(token) > Date.now()))
    throw new GcsError(401, 'AuthenticationRequired', 'Invalid Credentials');
}

async function handle(req, res, rawPath, rawQuery, entry) {
  const query = parseQuery(rawQuery);
  const param = (n) => query.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
  entry.signed = param('X-Goog-Signature') !== undefined;

  const fault = takeFault(req.method, rawPath);
  if (fault) {
    entry.fault = true;
    if (fault.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
    if (fault.drop) return readSome(req).then(() => req.socket.destroy());
    if (fault.status)
      throw new GcsError(fault.status, fault.code || FAULT_CODES[fault.status] || 'InjectedFault',
        'Injected by the test.');
  }

  // The object name is the whole decoded rest of the path; the canonical
  // path is re-encoded from it, '/' kept, as the libraries encode names.
  const decoded = decode(rawPath);
  const slash = decoded.indexOf('/', 1);
  const bucket = slash < 0 ? decoded.slice(1) : decoded.slice(1, slash);
  const name = slash < 0 ? '' : decoded.slice(slash + 1);
  const uploadId = param('upload_id');

  entry.token = req.headers.authorization !== undefined;
  if (entry.signed && entry.token)
    throw new GcsError(400, 'InvalidArgument', 'A request may not carry a signature and a token both.');
  if (entry.signed) authenticate(req, decoded.split('/').map(encode).join('/'), query);
  else if (entry.token) checkToken(req.headers.authorization);
  else if (uploadId !== undefined && (req.method === 'PUT' || req.method === 'DELETE')) { /* the id is the credential */ }
  else if (!(opts.public && (req.method === 'GET' || req.method === 'HEAD')))
    throw new GcsError(403, 'AccessDenied', 'Access denied.',
      { Details: 'Anonymous caller does not have access to the Google Cloud Storage object.' });

  if (!bucket) throw new GcsError(501, 'NotImplemented', 'Listing buckets is not implemented.');
  const objects = buckets.get(bucket);
  if (!objects) throw new GcsError(404, 'NoSuchBucket', 'The specified bucket does not exist.');

  if (!name) {
    if (req.method === 'GET') return listBucket(req, res, bucket, objects, query);
    if (req.method === 'HEAD') return drained(req).then(() => { res.writeHead(200, { 'Content-Length': 0 }); res.end(); });
    throw new GcsError(501, 'NotImplemented', `${req.method} of a bucket is not implemented.`);
  }
  if (uploadId !== undefined && (req.method === 'PUT' || req.method === 'DELETE')) {
    const s = sessions.get(uploadId);
    if (!s || s.bucket !== bucket || s.name !== name)
      throw new GcsError(404, 'NoSuchUpload', 'The requested upload was not found.');
    return req.method === 'PUT' ? uploadChunk(req, res, uploadId, s) : cancelUpload(req, res, uploadId, s);
  }
  switch (req.method) {
    case 'POST': return startUpload(req, res, bucket, name, rawPath);
    case 'PUT': return req.headers['x-goog-copy-source'] !== undefined
      ? copyObject(req, res, bucket, name) : putObject(req, res, bucket, name);
    case 'GET': case 'HEAD': return getObject(req, res, objects, name);
    case 'DELETE': return deleteObject(req, res, objects, name);
    default: throw new GcsError(405, 'MethodNotAllowed', `${req.method} is not allowed here.`);
  }
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  if (rawPath.startsWith('/_standin/')) {
    control(req, res, rawPath).catch((e) => { console.error(e); res.destroy(); });
    return;
  }
  const entry = { method: req.method, path: rawPath, status: null, signed: false };
  log.push(entry);
  res.on('finish', () => { entry.status = res.statusCode; });
  if (req.method === 'GET' && rawPath === '/computeMetadata/v1/instance/service-accounts/default/token') {
    metadataToken(req, res);
    return;
  }
  res.on('close', () => { if (entry.status === null) entry.status = 0; }); // no answer went out
  handle(req, res, rawPath, rawQuery, entry).catch((err) => {
    if (!(err instanceof GcsError)) {
      if (req.destroyed || res.destroyed) return; // the client went away mid-transfer
      console.error(err);
      err = new GcsError(500, 'InternalError', 'We encountered an internal error. Please try again.');
    }
    return sendError(req, res, err);
  });
});
// Uploads of a gigabyte may take longer than Node's default five minutes.
server.requestTimeout = 0;
server.listen(opts.port, opts.host, () => console.log(`listening ${server.address().port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
