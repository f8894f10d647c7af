#!/usr/bin/env node
// A test stand-in for the AWS endpoints gha-metrics talks to, on one HTTP port:
//
//   POST /                 CloudWatch PutMetricData (JSON protocol, X-Amz-Target
//                          GraniteServiceVersion20100801.*, SigV4 service "monitoring")
//                          and CloudWatch Logs (Logs_20140328.*, service "logs"):
//                          SigV4 verified per the AWS specification, every documented
//                          limit enforced, AWS's JSON error shapes.
//   GET  /creds            container (ECS/Fargate) credentials endpoint
//   PUT  /latest/api/token, GET /latest/meta-data/iam/security-credentials/[ROLE]
//                          EC2 IMDSv2 (IMDSv1 refused)
//   /_control/...          inspection and fault injection over HTTP (no signature)
//
// In-process:   const aws = await startAws({ credentials: [{ accessKeyId, secretAccessKey }] });
// Out of process: node tests/servers/aws.mjs --port 0 [--region R] [--credential AKID:SECRET[:TOKEN]]...
//                 prints one JSON line {"url", "port", "region", "credentials"}; connectAws(url) drives it.
//
// Only node: built-ins are used.

import http from "node:http";
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

// ---------------------------------------------------------------------------
// Contracts and limits
// ---------------------------------------------------------------------------

export const DEFAULT_REGION = "eu-west-1";

/** Used when startAws() / the CLI is given no credentials (AWS's documentation example pair). */
export const DEFAULT_CREDENTIAL = Object.freeze({
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
});

export const CLOUDWATCH = Object.freeze({
  service: "monitoring",
  targetPrefix: "GraniteServiceVersion20100801.",
  contentType: "application/x-amz-json-1.0",
  maxBodyBytes: 1_048_576, // on the wire (compressed when Content-Encoding: gzip)
  maxDecompressedBytes: 40 * 1_048_576, // stand-in's own guard against gzip bombs
  maxDatums: 1000,
  maxValues: 150,
  maxDimensions: 30,
  maxDimensionNameLength: 255,
  maxDimensionValueLength: 1024,
  maxMetricNameLength: 255,
  maxNamespaceLength: 255,
  maxAbsValue: 2 ** 360,
  maxAgeMs: 14 * 24 * 3600_000, // two weeks
  maxAheadMs: 2 * 3600_000, // two hours
  storageResolutions: Object.freeze([1, 60]),
});

export const UNITS = Object.freeze([
  "Seconds", "Microseconds", "Milliseconds",
  "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
  "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
  "Percent", "Count",
  "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
  "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
  "Count/Second", "None",
]);
const UNIT_SET = new Set(UNITS);

export const LOGS = Object.freeze({
  service: "logs",
  targetPrefix: "Logs_20140328.",
  contentType: "application/x-amz-json-1.1",
  maxBodyBytes: 5 * 1_048_576, // stand-in's guard; the real limit is the batch size below
  maxEvents: 10_000,
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxSpanMs: 24 * 3600_000,
  maxAgeMs: 14 * 24 * 3600_000,
  maxAheadMs: 2 * 3600_000,
  maxNameLength: 512,
});

const CW_OPERATIONS = new Set(["PutMetricData"]);
const LOGS_OPERATIONS = new Set(["CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams", "DescribeLogGroups"]);

/** Error codes per service ("monitoring" answers with CloudWatch's query-compatible codes). */
const CODES = {
  monitoring: {
    missingAuth: "MissingAuthenticationToken",
    incomplete: "IncompleteSignature",
    signature: "SignatureDoesNotMatch",
    unknownKey: "InvalidClientTokenId",
    badToken: "InvalidClientTokenId",
    expiredToken: "ExpiredToken",
    throttle: "Throttling",
    internal: "InternalFailure",
    unavailable: "ServiceUnavailable",
    tooLarge: "RequestEntityTooLarge",
    serialization: "SerializationException",
    unknownOperation: "UnknownOperationException",
  },
  logs: {
    missingAuth: "MissingAuthenticationTokenException",
    incomplete: "IncompleteSignatureException",
    signature: "InvalidSignatureException",
    unknownKey: "UnrecognizedClientException",
    badToken: "UnrecognizedClientException",
    expiredToken: "ExpiredTokenException",
    throttle: "ThrottlingException",
    internal: "InternalFailure",
    unavailable: "ServiceUnavailableException",
    tooLarge: "RequestEntityTooLarge",
    serialization: "SerializationException",
    unknownOperation: "UnknownOperationException",
  },
};

const MSG = {
  signature:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
  badToken: "The security token included in the request is invalid.",
  expiredToken: "The security token included in the request is expired",
  throttle: "Rate exceeded",
  internal: "The request processing has failed because of an unknown error, exception or failure.",
  unavailable: "The request has failed due to a temporary failure of the server.",
};

// ---------------------------------------------------------------------------
// SigV4 (AWS Signature Version 4), written from the specification
// ---------------------------------------------------------------------------

export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;

export function sha256Hex(data) {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key, data) {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** Percent-encodes bytes: everything but A-Z a-z 0-9 - _ . ~ (and "/" when keepSlash), upper-case hex. */
export function uriEncodeBytes(bytes, keepSlash = false) {
  let out = "";
  for (const b of bytes) {
    if (
      (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
      b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e || (keepSlash && b === 0x2f)
    ) out += String.fromCharCode(b);
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** uriEncode(string) per the SigV4 spec (UTF-8, unreserved characters kept). */
export function uriEncode(str, keepSlash = false) {
  return uriEncodeBytes(Buffer.from(String(str), "utf8"), keepSlash);
}

/** Decodes %XX sequences of a raw (latin1 / ASCII) URL component into bytes; malformed escapes stay literal. */
function percentDecode(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < raw.length + 0 && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      out.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

function removeDotSegments(p) {
  const segs = p.split("/");
  const out = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === "." || s === "..") {
      if (s === ".." && out.length > 1) out.pop();
      if (last) out.push("");
      continue;
    }
    out.push(s);
  }
  const r = out.join("/");
  return r.startsWith("/") ? r : "/" + r;
}

/**
 * CanonicalURI for every service but S3: the absolute path, dot segments
 * removed, each segment URI-encoded (the path as sent is encoded again, i.e.
 * "%20" in the request becomes "%2520").
 */
export function canonicalUri(rawPath) {
  const p = removeDotSegments(rawPath || "/");
  return uriEncodeBytes(Buffer.from(p, "latin1"), true);
}

/** CanonicalQueryString: each name and value decoded then URI-encoded, sorted by name then value, "name=value" joined by "&". */
export function canonicalQuery(rawQuery) {
  if (!rawQuery) return "";
  const pairs = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? "" : part.slice(eq + 1);
    pairs.push([uriEncodeBytes(percentDecode(k)), uriEncodeBytes(percentDecode(v))]);
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  pairs.sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** Lower-case header name → list of values, from Node's rawHeaders ([name, value, name, value, ...]) or a plain object. */
export function headerLists(headers) {
  const map = new Map();
  const add = (name, value) => {
    const k = String(name).toLowerCase();
    if (!map.has(k)) map.set(k, []);
    map.get(k).push(String(value));
  };
  if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
  else for (const [k, v] of Object.entries(headers || {})) (Array.isArray(v) ? v : [v]).forEach((x) => add(k, x));
  return map;
}

/** The canonical value of one header: each value trimmed, runs of whitespace collapsed to one space, values joined by ",". */
export function canonicalHeaderValue(values) {
  return values.map((v) => v.trim().replace(/\s+/g, " ")).join(",");
}

/**
 * The canonical request:
 *   METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HexPayloadHash
 * headers: lower-case name → [values] (see headerLists); signedHeaders: list of lower-case names.
 */
export function canonicalRequest({ method, rawPath, rawQuery, headers, signedHeaders, payloadHash }) {
  const ch = signedHeaders.map((n) => `${n}:${canonicalHeaderValue(headers.get(n) || [])}\n`).join("");
  return [method.toUpperCase(), canonicalUri(rawPath), canonicalQuery(rawQuery), ch, signedHeaders.join(";"), payloadHash].join("\n");
}

export function credentialScope(date, region, service) {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate, scope, canonicalRequestText) {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonicalRequestText)].join("\n");
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secretAccessKey, date, region, service) {
  const kDate = hmac("AWS4" + secretAccessKey, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, "aws4_request");
}

export function toAmzDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || "");
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return toAmzDate(ms) === s ? ms : null; // rejects 20150230 etc.
}

/** Parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex". */
export function parseAuthorization(value) {
  if (!value) return { error: "missing" };
  const m = /^(\S+)\s+(.*)$/s.exec(value.trim());
  if (!m) return { error: "incomplete", message: "Authorization header is malformed." };
  if (m[1] !== SIGV4_ALGORITHM) return { error: "incomplete", message: `Unsupported AWS 'algorithm': '${m[1]}'.` };
  const parts = {};
  for (const item of m[2].split(",")) {
    const t = item.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq < 0) return { error: "incomplete", message: `Authorization header requires each component to be of the form key=value: '${t}'.` };
    parts[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  for (const k of ["Credential", "SignedHeaders", "Signature"]) {
    if (!parts[k]) return { error: "incomplete", message: `Authorization header requires '${k}' parameter. Authorization=${SIGV4_ALGORITHM} ...` };
  }
  const cred = parts.Credential.split("/");
  if (cred.length !== 5 || cred.some((c) => c === "") || cred[4] !== "aws4_request") {
    return { error: "incomplete", message: `Credential should be scoped to a valid date, region, service and terminated by 'aws4_request', got '${parts.Credential.split("/").slice(1).join("/")}'.` };
  }
  if (!/^[0-9a-f]{64}$/.test(parts.Signature)) return { error: "signature", message: MSG.signature };
  return {
    accessKeyId: cred[0],
    date: cred[1],
    region: cred[2],
    service: cred[3],
    signedHeaders: parts.SignedHeaders.split(";"),
    signedHeadersText: parts.SignedHeaders,
    signature: parts.Signature,
  };
}

/**
 * Signs a request (used by the tests, usable by integration tests that want to
 * hand-craft requests). Returns { headers, authorization, canonicalRequest, stringToSign, signature }:
 * `headers` is the input headers plus X-Amz-Date, X-Amz-Security-Token (when sessionToken) and Authorization.
 * All headers given are signed unless signedHeaders lists the ones to sign.
 */
export function signRequest({
  method = "POST", url = "/", headers = {}, body = "", accessKeyId, secretAccessKey, sessionToken,
  region = DEFAULT_REGION, service, amzDate = toAmzDate(Date.now()), signedHeaders,
}) {
  const out = { ...headers, "X-Amz-Date": amzDate };
  if (sessionToken) out["X-Amz-Security-Token"] = sessionToken;
  const lists = headerLists(out);
  const names = (signedHeaders || [...lists.keys()]).map((n) => n.toLowerCase()).sort();
  const q = url.indexOf("?");
  const cr = canonicalRequest({
    method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? "" : url.slice(q + 1),
    headers: lists, signedHeaders: names, payloadHash: sha256Hex(body),
  });
  const scope = credentialScope(amzDate.slice(0, 8), region, service);
  const sts = stringToSign(amzDate, scope, cr);
  const signature = createHmac("sha256", signingKey(secretAccessKey, amzDate.slice(0, 8), region, service)).update(sts, "utf8").digest("hex");
  const authorization = `${SIGV4_ALGORITHM} Credential=${accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  out.Authorization = authorization;
  return { headers: out, authorization, canonicalRequest: cr, stringToSign: sts, signature };
}

/**
 * Verifies a SigV4-signed request.
 *   request: { method, url (raw path + query), rawHeaders (Node's) or headers (object), body (Buffer) }
 *   opts:    { region, service, now (ms), lookup(accessKeyId) → credential | undefined, maxSkewMs,
 *              allowAbsentSignedHeaders (default false: a SignedHeaders entry missing from the request is refused) }
 * → { ok: true, credential, auth } or { ok: false, status, kind, message, canonicalRequest?, stringToSign? }
 * kind: missingAuth | incomplete | signature | unknownKey | badToken | expiredToken
 */
export function verifySigV4(request, { region, service, now = Date.now(), lookup, maxSkewMs = MAX_CLOCK_SKEW_MS, allowAbsentSignedHeaders = false }) {
  const fail = (status, kind, message, extra = {}) => ({ ok: false, status, kind, message, ...extra });
  const lists = headerLists(request.rawHeaders || request.headers);
  const one = (n) => (lists.has(n) ? lists.get(n).join(",") : undefined);

  const authz = one("authorization");
  if (authz === undefined) {
    const q = (request.url || "").split("?")[1] || "";
    if (/(^|&)X-Amz-Signature=/i.test(q)) return fail(403, "incomplete", "Presigned (query string) requests are not supported by this endpoint.");
    return fail(403, "missingAuth", "Missing Authentication Token");
  }
  const auth = parseAuthorization(authz);
  if (auth.error === "incomplete") return fail(400, "incomplete", auth.message);
  if (auth.error) return fail(403, auth.error, auth.message);

  const amzDate = one("x-amz-date");
  if (amzDate === undefined) return fail(400, "incomplete", "Authorization header requires existence of a 'X-Amz-Date' header.");
  const t = parseAmzDate(amzDate.trim());
  if (t === null) return fail(400, "incomplete", `Date must be in ISO-8601 'basic format'. Got '${amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601`);

  const signedSet = new Set(auth.signedHeaders);
  if (!signedSet.has("host")) return fail(403, "signature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  if (!signedSet.has("x-amz-date")) return fail(403, "signature", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  const unsigned = [...lists.keys()].filter((n) => n.startsWith("x-amz-") && !signedSet.has(n));
  if (unsigned.length) return fail(403, "signature", `There were headers present in the request which were not signed: ${unsigned.join(", ")}`);

  if (!allowAbsentSignedHeaders) {
    // e.g. libcurl < 8.3 signs a header the caller removed with "Expect:" (curl issue #11664); AWS answers
    // "IncompleteSignatureException: 'expect' is named as a SignedHeader, but it does not exist in the HTTP request."
    const absent = auth.signedHeaders.filter((n) => !lists.has(n));
    if (absent.length) return fail(400, "incomplete", `'${absent[0]}' is named as a SignedHeader, but it does not exist in the HTTP request.`);
  }

  if (auth.date !== amzDate.slice(0, 8)) {
    return fail(403, "signature", `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  if (t < now - maxSkewMs) {
    return fail(403, "signature", `Signature expired: ${amzDate} is now earlier than ${toAmzDate(now - maxSkewMs)} (${toAmzDate(now)} - 15 min.)`);
  }
  if (t > now + maxSkewMs) {
    return fail(403, "signature", `Signature not yet current: ${amzDate} is still later than ${toAmzDate(now + maxSkewMs)} (${toAmzDate(now)} + 15 min.)`);
  }
  if (auth.region !== region) return fail(403, "signature", `Credential should be scoped to a valid region, not '${auth.region}'. `);
  if (auth.service !== service) return fail(403, "signature", `Credential should be scoped to correct service: '${service}'. `);

  const cred = lookup(auth.accessKeyId);
  if (!cred) return fail(403, "unknownKey", MSG.badToken);
  const token = one("x-amz-security-token");
  if (cred.sessionToken) {
    if (token === undefined || token.length !== cred.sessionToken.length ||
        !timingSafeEqual(Buffer.from(token), Buffer.from(cred.sessionToken))) return fail(403, "badToken", MSG.badToken);
  } else if (token !== undefined) return fail(403, "badToken", MSG.badToken);
  if (cred.expiration != null && now >= cred.expiration) return fail(403, "expiredToken", MSG.expiredToken);

  const body = request.body || Buffer.alloc(0);
  const payloadHash = sha256Hex(body);
  const claimed = one("x-amz-content-sha256");
  if (claimed !== undefined && claimed.trim() !== payloadHash) {
    return fail(403, "signature", "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  const url = request.url || "/";
  const q = url.indexOf("?");
  const cr = canonicalRequest({
    method: request.method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? "" : url.slice(q + 1),
    headers: lists, signedHeaders: auth.signedHeaders, payloadHash,
  });
  const sts = stringToSign(amzDate.trim(), credentialScope(auth.date, auth.region, auth.service), cr);
  const expected = createHmac("sha256", signingKey(cred.secretAccessKey, auth.date, auth.region, auth.service)).update(sts, "utf8").digest();
  const given = Buffer.from(auth.signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail(403, "signature", MSG.signature, { canonicalRequest: cr, stringToSign: sts });
  }
  return { ok: true, credential: cred, auth };
}

// ---------------------------------------------------------------------------
// Request validation: PutMetricData
// ---------------------------------------------------------------------------

const isSet = (v) => v !== undefined && v !== null;
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

class ApiError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
const invalid = (m) => new ApiError("InvalidParameterValue", m);
const missing = (m) => new ApiError("MissingParameter", `The parameter ${m} is required.`);
const combination = (m) => new ApiError("InvalidParameterCombination", m);
const serialization = (m) => new ApiError("SerializationException", m);

function checkNumber(v, where) {
  if (typeof v !== "number") throw serialization(`Expected a number for ${where}, got ${JSON.stringify(v)}.`);
  if (!Number.isFinite(v) || Math.abs(v) > CLOUDWATCH.maxAbsValue) {
    throw invalid(`The value ${v} for parameter ${where} is invalid: values must be finite and within -2^360..2^360.`);
  }
  return v;
}

function checkString(v, where) {
  if (typeof v !== "string") throw serialization(`Expected a string for ${where}, got ${JSON.stringify(v)}.`);
  return v;
}

/** Parses a JSON-protocol timestamp: epoch seconds (number, may be fractional) or an ISO 8601 string → ms. */
export function parseTimestamp(v, where = "Timestamp") {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw serialization(`Invalid timestamp for ${where}: ${v}.`);
    return v * 1000;
  }
  if (typeof v === "string" && ISO_8601.test(v)) {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return ms;
  }
  throw serialization(`Invalid timestamp for ${where}: ${JSON.stringify(v)} (epoch seconds or ISO 8601 expected).`);
}

function checkDimensionText(s, where, max) {
  if (s.length < 1 || s.length > max) throw invalid(`The parameter ${where} must be between 1 and ${max} characters long (got ${s.length}).`);
  if (!PRINTABLE_ASCII.test(s)) throw invalid(`The value for parameter ${where} must contain only ASCII characters (no control characters).`);
  if (!/\S/.test(s)) throw invalid(`The value for parameter ${where} must include at least one non-whitespace character.`);
}

/** → { namespace, datums: [...] } or throws ApiError. */
export function validatePutMetricData(p, now = Date.now()) {
  if (!isObj(p)) throw serialization("The request body must be a JSON object.");
  if (!isSet(p.Namespace)) throw missing("Namespace");
  const ns = checkString(p.Namespace, "Namespace");
  if (ns.length < 1 || ns.length > CLOUDWATCH.maxNamespaceLength) throw invalid(`The parameter Namespace must be between 1 and 255 characters long (got ${ns.length}).`);
  if (ns.startsWith("AWS/")) throw invalid(`The value ${ns} for parameter Namespace is invalid: the AWS/ prefix is reserved for AWS services.`);
  if (!/^[A-Za-z0-9._\-/#: ]+$/.test(ns) || ns.startsWith(":") || !/\S/.test(ns)) {
    throw invalid(`The value ${ns} for parameter Namespace is invalid: use alphanumerics, . - _ / # : and spaces.`);
  }
  if (!isSet(p.MetricData)) throw missing("MetricData");
  if (!Array.isArray(p.MetricData)) throw serialization("MetricData must be a list.");
  const md = p.MetricData;
  if (md.length === 0) throw missing("MetricData");
  if (md.length > CLOUDWATCH.maxDatums) throw invalid(`The collection MetricData must not have a size greater than ${CLOUDWATCH.maxDatums} (got ${md.length}).`);

  const datums = md.map((d, i) => {
    const at = `MetricData.member.${i + 1}`;
    if (!isObj(d)) throw serialization(`${at} must be an object.`);
    if (!isSet(d.MetricName)) throw missing(`${at}.MetricName`);
    const name = checkString(d.MetricName, `${at}.MetricName`);
    if (name.length < 1 || name.length > CLOUDWATCH.maxMetricNameLength) throw invalid(`The parameter ${at}.MetricName must be between 1 and 255 characters long (got ${name.length}).`);

    const dims = isSet(d.Dimensions) ? d.Dimensions : [];
    if (!Array.isArray(dims)) throw serialization(`${at}.Dimensions must be a list.`);
    if (dims.length > CLOUDWATCH.maxDimensions) throw invalid(`The collection ${at}.Dimensions must not have a size greater than ${CLOUDWATCH.maxDimensions} (got ${dims.length}).`);
    const seen = new Set();
    const dimensionList = dims.map((x, j) => {
      const dat = `${at}.Dimensions.member.${j + 1}`;
      if (!isObj(x)) throw serialization(`${dat} must be an object.`);
      if (!isSet(x.Name)) throw missing(`${dat}.Name`);
      if (!isSet(x.Value)) throw missing(`${dat}.Value`);
      const n = checkString(x.Name, `${dat}.Name`);
      const v = checkString(x.Value, `${dat}.Value`);
      checkDimensionText(n, `${dat}.Name`, CLOUDWATCH.maxDimensionNameLength);
      if (n.startsWith(":")) throw invalid(`The value ${n} for parameter ${dat}.Name is invalid: it cannot start with a colon.`);
      checkDimensionText(v, `${dat}.Value`, CLOUDWATCH.maxDimensionValueLength);
      if (seen.has(n)) throw invalid(`The dimension name ${n} appears more than once in ${at}.Dimensions.`);
      seen.add(n);
      return { Name: n, Value: v };
    });

    let timestamp = null;
    if (isSet(d.Timestamp)) {
      timestamp = parseTimestamp(d.Timestamp, `${at}.Timestamp`);
      if (timestamp < now - CLOUDWATCH.maxAgeMs) throw invalid(`The parameter ${at}.Timestamp must specify a time no more than two weeks in the past (got ${new Date(timestamp).toISOString()}).`);
      if (timestamp > now + CLOUDWATCH.maxAheadMs) throw invalid(`The parameter ${at}.Timestamp must specify a time no more than two hours in the future (got ${new Date(timestamp).toISOString()}).`);
    }

    let unit = null;
    if (isSet(d.Unit)) {
      unit = checkString(d.Unit, `${at}.Unit`);
      if (!UNIT_SET.has(unit)) throw invalid(`The value ${unit} for parameter ${at}.Unit is invalid.`);
    }

    let storageResolution = null;
    if (isSet(d.StorageResolution)) {
      storageResolution = d.StorageResolution;
      if (typeof storageResolution !== "number") throw serialization(`Expected a number for ${at}.StorageResolution.`);
      if (!CLOUDWATCH.storageResolutions.includes(storageResolution)) throw invalid(`The value ${storageResolution} for parameter ${at}.StorageResolution is invalid: use 1 or 60.`);
    }

    const given = ["Value", "Values", "StatisticValues"].filter((k) => isSet(d[k]));
    if (given.length === 0) throw combination(`One of the parameters ${at}.Value, ${at}.Values or ${at}.StatisticValues must be specified.`);
    if (given.length > 1) throw combination(`The parameters ${given.map((k) => `${at}.${k}`).join(" and ")} are mutually exclusive and you have specified more than one.`);
    if (isSet(d.Counts) && !isSet(d.Values)) throw combination(`The parameter ${at}.Counts can only be specified with ${at}.Values.`);

    const out = { metricName: name, dimensions: Object.fromEntries(dimensionList.map((x) => [x.Name, x.Value])), dimensionList, timestamp, unit, storageResolution };
    if (isSet(d.Value)) out.value = checkNumber(d.Value, `${at}.Value`);
    if (isSet(d.Values)) {
      if (!Array.isArray(d.Values)) throw serialization(`${at}.Values must be a list.`);
      if (d.Values.length === 0) throw invalid(`The collection ${at}.Values must have at least 1 member.`);
      if (d.Values.length > CLOUDWATCH.maxValues) throw invalid(`The collection ${at}.Values must not have a size greater than ${CLOUDWATCH.maxValues} (got ${d.Values.length}).`);
      out.values = d.Values.map((v, j) => checkNumber(v, `${at}.Values.member.${j + 1}`));
      if (isSet(d.Counts)) {
        if (!Array.isArray(d.Counts)) throw serialization(`${at}.Counts must be a list.`);
        if (d.Counts.length !== d.Values.length) throw invalid(`The parameters ${at}.Values and ${at}.Counts must be of the same size (${d.Values.length} != ${d.Counts.length}).`);
        out.counts = d.Counts.map((c, j) => {
          checkNumber(c, `${at}.Counts.member.${j + 1}`);
          if (c < 0) throw invalid(`The value ${c} for parameter ${at}.Counts.member.${j + 1} is invalid: counts cannot be negative.`);
          return c;
        });
      } else out.counts = null;
    }
    if (isSet(d.StatisticValues)) {
      const s = d.StatisticValues;
      if (!isObj(s)) throw serialization(`${at}.StatisticValues must be an object.`);
      for (const k of ["SampleCount", "Sum", "Minimum", "Maximum"]) {
        if (!isSet(s[k])) throw missing(`${at}.StatisticValues.${k}`);
        checkNumber(s[k], `${at}.StatisticValues.${k}`);
      }
      if (s.SampleCount <= 0) throw invalid(`The value ${s.SampleCount} for parameter ${at}.StatisticValues.SampleCount is invalid: it must be positive.`);
      if (s.Minimum > s.Maximum) throw invalid(`The parameter ${at}.StatisticValues.Minimum must not be greater than ${at}.StatisticValues.Maximum.`);
      out.statisticValues = { SampleCount: s.SampleCount, Sum: s.Sum, Minimum: s.Minimum, Maximum: s.Maximum };
    }
    return out;
  });
  return { namespace: ns, datums };
}

// ---------------------------------------------------------------------------
// Request validation: CloudWatch Logs
// ---------------------------------------------------------------------------

const logsInvalid = (m) => new ApiError("InvalidParameterException", m);

function checkLogGroupName(v, field = "logGroupName") {
  if (!isSet(v)) throw logsInvalid(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  if (typeof v !== "string") throw serialization(`Expected a string for ${field}.`);
  if (v.length < 1 || v.length > LOGS.maxNameLength) throw logsInvalid(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must have length between 1 and 512`);
  if (!/^[.\-_/#A-Za-z0-9]+$/.test(v)) throw logsInvalid(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+`);
  return v;
}

function checkLogStreamName(v, field = "logStreamName") {
  if (!isSet(v)) throw logsInvalid(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  if (typeof v !== "string") throw serialization(`Expected a string for ${field}.`);
  if (v.length < 1 || v.length > LOGS.maxNameLength) throw logsInvalid(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must have length between 1 and 512`);
  if (/[:*]/.test(v)) throw logsInvalid(`1 validation error detected: Value '${v}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*`);
  return v;
}

/** → { events: [{timestamp, message}], batchBytes } or throws ApiError (before looking at the group/stream). */
export function validatePutLogEvents(p) {
  if (!isObj(p)) throw serialization("The request body must be a JSON object.");
  checkLogGroupName(p.logGroupName);
  checkLogStreamName(p.logStreamName);
  const ev = p.logEvents;
  if (!isSet(ev)) throw logsInvalid("1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must not be null");
  if (!Array.isArray(ev)) throw serialization("logEvents must be a list.");
  if (ev.length < 1 || ev.length > LOGS.maxEvents) {
    throw logsInvalid(`1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and ${LOGS.maxEvents} (got ${ev.length})`);
  }
  let batchBytes = 0;
  const events = ev.map((e, i) => {
    const at = `logEvents.${i + 1}.member`;
    if (!isObj(e)) throw serialization(`${at} must be an object.`);
    if (!isSet(e.timestamp)) throw logsInvalid(`1 validation error detected: Value null at '${at}.timestamp' failed to satisfy constraint: Member must not be null`);
    if (!Number.isInteger(e.timestamp) || e.timestamp < 0) throw serialization(`Expected a non-negative integer (epoch milliseconds) for ${at}.timestamp, got ${JSON.stringify(e.timestamp)}.`);
    if (!isSet(e.message)) throw logsInvalid(`1 validation error detected: Value null at '${at}.message' failed to satisfy constraint: Member must not be null`);
    if (typeof e.message !== "string") throw serialization(`Expected a string for ${at}.message.`);
    if (e.message.length < 1) throw logsInvalid(`1 validation error detected: Value '' at '${at}.message' failed to satisfy constraint: Member must have length greater than or equal to 1`);
    batchBytes += Buffer.byteLength(e.message, "utf8") + LOGS.eventOverheadBytes;
    return { timestamp: e.timestamp, message: e.message };
  });
  if (batchBytes > LOGS.maxBatchBytes) throw logsInvalid(`Upload too large: ${batchBytes} bytes exceeds limit of ${LOGS.maxBatchBytes}`);
  for (let i = 1; i < events.length; i++) {
    if (events[i].timestamp < events[i - 1].timestamp) throw logsInvalid("Log events in a single PutLogEvents request must be in chronological order.");
  }
  if (events[events.length - 1].timestamp - events[0].timestamp > LOGS.maxSpanMs) {
    throw logsInvalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.");
  }
  return { events, batchBytes };
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

function randomKey(prefix, len) {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let s = prefix;
  for (const b of randomBytes(len)) s += abc[b % 32];
  return s;
}

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function readBody(req, cap) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let truncated = false;
    req.on("data", (c) => {
      size += c.length;
      if (size > cap) truncated = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve({ buf: truncated ? Buffer.alloc(0) : Buffer.concat(chunks), size, truncated }));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("aborted")));
  });
}

function operationOf(target) {
  if (typeof target !== "string") return { service: null, operation: null };
  if (target.startsWith(CLOUDWATCH.targetPrefix)) return { service: "monitoring", operation: target.slice(CLOUDWATCH.targetPrefix.length) };
  if (target.startsWith(LOGS.targetPrefix)) return { service: "logs", operation: target.slice(LOGS.targetPrefix.length) };
  return { service: null, operation: target };
}

function lowerHeaders(req) {
  const out = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

const FAULT_KINDS = new Set(["throttle", "fail5xx", "hang", "drop"]);

export class AwsStandIn extends EventEmitter {
  constructor({ credentials, region = DEFAULT_REGION, containerPath = "/creds", maxSkewMs = MAX_CLOCK_SKEW_MS, allowAbsentSignedHeaders = false } = {}) {
    super();
    this.allowAbsentSignedHeaders = allowAbsentSignedHeaders;
    this.region = region;
    this.containerPath = containerPath;
    this.maxSkewMs = maxSkewMs;
    this.url = null;
    this.port = null;
    this._credentials = new Map();
    for (const c of credentials && credentials.length ? credentials : [DEFAULT_CREDENTIAL]) this.addCredential(c);
    this._clockOffset = 0;
    this._seq = 0;
    this._sequenceToken = 0;
    this._resetFaults();
    this._resetRecords();
    this._groups = new Map();
    this._container = null; // { credential, rotate, lifetimeMs }
    this._containerToken = null;
    this._imds = null; // { role, credential, rotate, lifetimeMs }
    this._imdsTokens = new Map(); // token → expiry (ms)
    this._server = http.createServer((req, res) => this._onRequest(req, res));
    this._server.keepAliveTimeout = 5_000;
  }

  // ---- clock -------------------------------------------------------------

  /** The stand-in's notion of now (ms): real time plus the offset set by setClockOffset(). */
  now() {
    return Date.now() + this._clockOffset;
  }

  /** Shifts the stand-in's clock (signature window, timestamp windows, credential expiry, IMDS token expiry). */
  setClockOffset(ms) {
    this._clockOffset = Number(ms) || 0;
    return this._clockOffset;
  }

  // ---- credentials ---------------------------------------------------------

  /** Accepts { accessKeyId, secretAccessKey, sessionToken?, expiration? (ms or ISO string) } for SigV4. */
  addCredential(c) {
    if (!c || !c.accessKeyId || !c.secretAccessKey) throw new Error("addCredential: accessKeyId and secretAccessKey are required");
    const exp = c.expiration == null ? null : typeof c.expiration === "number" ? c.expiration : Date.parse(c.expiration);
    const cred = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken || null, expiration: exp, source: c.source || "configured" };
    this._credentials.set(cred.accessKeyId, cred);
    return { ...cred };
  }

  removeCredential(accessKeyId) {
    return this._credentials.delete(accessKeyId);
  }

  credentials() {
    return [...this._credentials.values()].map((c) => ({ ...c }));
  }

  _mintCredential(base, lifetimeMs, source) {
    return this.addCredential({
      accessKeyId: base.accessKeyId || randomKey("ASIA", 16),
      secretAccessKey: base.secretAccessKey || randomBytes(30).toString("base64"),
      sessionToken: base.sessionToken || randomBytes(96).toString("base64"),
      expiration: base.expiration != null ? base.expiration : this.now() + lifetimeMs,
      source,
    });
  }

  /**
   * Configures what GET {containerPath} serves (and the SigV4 check accepts).
   * opts: accessKeyId, secretAccessKey, sessionToken (generated when absent), expiration (ms | ISO) or
   * expiresInMs (default 1 h), rotate (each successful GET mints a fresh credential with a fresh expiry).
   * Returns the credential; null/false disables the endpoint (404).
   */
  setContainerCredentials(opts = {}) {
    if (opts === null || opts === false) return (this._container = null);
    const lifetimeMs = opts.expiresInMs ?? 3600_000;
    const credential = this._mintCredential(opts, lifetimeMs, "container");
    this._container = { credential, rotate: !!opts.rotate, lifetimeMs };
    return { ...credential };
  }

  /** Authorization value the container endpoint requires (null: none required). */
  setContainerToken(token) {
    this._containerToken = token == null ? null : String(token);
  }

  /** Like setContainerCredentials, for IMDSv2; opts.role (default "gha-metrics-role") is the role name listed. */
  setImdsCredentials(opts = {}) {
    if (opts === null || opts === false) return (this._imds = null);
    const lifetimeMs = opts.expiresInMs ?? 3600_000;
    const credential = this._mintCredential(opts, lifetimeMs, "imds");
    this._imds = { role: opts.role || "gha-metrics-role", credential, rotate: !!opts.rotate, lifetimeMs };
    return { ...credential, role: this._imds.role };
  }

  // ---- faults --------------------------------------------------------------

  _resetFaults() {
    this._faults = [];
    this._outageUntil = 0;
    this._credentialFaults = [];
  }

  _addFault(kind, n, opts = {}) {
    const count = n === undefined ? 1 : Number(n);
    if (!(count >= 0)) throw new Error(`${kind}: n must be a non-negative number`);
    if (count > 0) this._faults.push({ kind, remaining: count, status: opts.status, operation: opts.operation, service: opts.service });
    return this.pendingFaults();
  }

  /** The next n data requests (optionally only { operation, service }) get 400 Throttling / ThrottlingException (opts.status: e.g. 429). */
  throttle(n = 1, opts = {}) {
    return this._addFault("throttle", n, opts);
  }

  /** The next n data requests fail with opts.status (default 500: InternalFailure; 503: ServiceUnavailable[Exception]). */
  fail5xx(n = 1, opts = {}) {
    return this._addFault("fail5xx", n, opts);
  }

  /** The next n data requests are read and never answered, until release() or close(). */
  hang(n = 1, opts = {}) {
    return this._addFault("hang", n, opts);
  }

  /** The next n data requests: the body is read, then the connection is destroyed without an answer. */
  drop(n = 1, opts = {}) {
    return this._addFault("drop", n, opts);
  }

  /** Every data request fails with 503 for ms (real time); 0 ends an outage, Infinity lasts until reset(). */
  outage(ms) {
    const d = Number(ms);
    this._outageUntil = d > 0 ? performance.now() + d : 0;
    return { outageMs: d > 0 ? d : 0 };
  }

  /**
   * Hung requests are answered: processed normally (process: true, the default; recorded only when 200)
   * or their connections destroyed (process: false). Requests whose client has gone are skipped.
   * Returns how many were released.
   */
  release({ process = true } = {}) {
    const hung = this._hung;
    this._hung = [];
    let n = 0;
    for (const h of hung) {
      if (h.req.socket.destroyed || h.res.writableEnded) continue;
      n++;
      if (process) this._process(h.req, h.res, h.rec, h.body);
      else {
        this._finish(h.rec, { status: null, outcome: "dropped" });
        h.req.socket.destroy();
      }
    }
    return n;
  }

  /** The next n credential-endpoint requests (opts.endpoint: "container" | "imds", default both) fail with opts.status (500). */
  failCredentials(n = 1, opts = {}) {
    const count = Number(n);
    if (count > 0) this._credentialFaults.push({ remaining: count, status: opts.status || 500, endpoint: opts.endpoint });
    return this._credentialFaults.length;
  }

  pendingFaults() {
    const f = this._faults.filter((x) => x.remaining > 0).map((x) => ({ ...x }));
    const outageLeft = Math.max(0, this._outageUntil - performance.now());
    return { faults: f, outageMs: outageLeft === Infinity ? "Infinity" : outageLeft, hung: this._hung.length };
  }

  /** Faults, outage and credential-endpoint faults cleared; hung requests are released (processed). */
  clearFaults() {
    this._resetFaults();
    this.release();
  }

  // ---- records -------------------------------------------------------------

  _resetRecords() {
    this._requests = [];
    this._received = [];
    this._logBatches = [];
    this._credentialRequests = [];
    this._hung = this._hung || [];
  }

  /** Forgets recorded requests, received data and credential-endpoint hits (log groups and their events stay). */
  clear() {
    this._resetRecords();
  }

  /** clearFaults() + clear() + all log groups deleted + clock offset 0. Credentials stay. */
  reset() {
    this.clearFaults();
    this._resetRecords();
    this._groups = new Map();
    this._clockOffset = 0;
  }

  /** Accepted (200) PutMetricData requests, in order. */
  received() {
    return structuredClone(this._received);
  }

  /** Every datum of received(), flattened, each with its namespace. */
  datums() {
    return this._received.flatMap((r) => structuredClone(r.datums).map((d) => ({ namespace: r.namespace, ...d })));
  }

  /** Every data request with its outcome, in arrival order. */
  requests() {
    return structuredClone(this._requests);
  }

  /** Accepted PutLogEvents calls (optionally for one group / stream). */
  logBatches(group, stream) {
    return structuredClone(this._logBatches.filter((b) => (group == null || b.group === group) && (stream == null || b.stream === stream)));
  }

  /** Stored events of a stream ({ timestamp, message, ingestionTime, emf }), or of every stream of the group when stream is omitted. */
  logEvents(group, stream) {
    const g = this._groups.get(group);
    if (!g) return [];
    const streams = stream == null ? [...g.streams.values()] : [g.streams.get(stream)].filter(Boolean);
    return structuredClone(streams.flatMap((s) => s.events));
  }

  /** [{ name, createdAt, streams: [{ name, createdAt, events }] }] */
  logGroups() {
    return [...this._groups.values()].map((g) => ({
      name: g.name, createdAt: g.createdAt,
      streams: [...g.streams.values()].map((s) => ({ name: s.name, createdAt: s.createdAt, events: s.events.length })),
    }));
  }

  /** Creates a log group (and optionally streams) directly, as if CreateLogGroup/CreateLogStream had been called. */
  createLogGroup(name, streams = []) {
    if (!this._groups.has(name)) this._groups.set(name, { name, createdAt: this.now(), streams: new Map() });
    const g = this._groups.get(name);
    for (const s of streams) if (!g.streams.has(s)) g.streams.set(s, { name: s, createdAt: this.now(), events: [] });
  }

  credentialRequests() {
    return structuredClone(this._credentialRequests);
  }

  /** Hits per credential endpoint: { container, imdsToken, imdsRoleName, imdsCredentials } each { total, ok, denied, failed }. */
  credentialHits() {
    const out = {};
    for (const e of ["container", "imdsToken", "imdsRoleName", "imdsCredentials"]) out[e] = { total: 0, ok: 0, denied: 0, failed: 0 };
    for (const r of this._credentialRequests) {
      if (!out[r.endpoint]) out[r.endpoint] = { total: 0, ok: 0, denied: 0, failed: 0 };
      const o = out[r.endpoint];
      o.total++;
      if (r.status === 200) o.ok++;
      else if (r.status >= 500) o.failed++;
      else o.denied++;
    }
    return out;
  }

  /** Counts of data requests by outcome, code, status and operation, plus datums, log events and credential hits. */
  counts() {
    const c = {
      requests: this._requests.length, accepted: 0, rejected: 0, throttled: 0, failed: 0, outage: 0,
      hung: 0, dropped: 0, abandoned: 0, pending: 0,
      byCode: {}, byStatus: {}, byOperation: {},
      datums: this._received.reduce((n, r) => n + r.datums.length, 0),
      putMetricData: this._received.length,
      logEvents: this._logBatches.reduce((n, b) => n + b.events.length, 0),
      putLogEvents: this._logBatches.length,
      credentialHits: this.credentialHits(),
    };
    for (const r of this._requests) {
      c[r.outcome] = (c[r.outcome] || 0) + 1;
      if (r.code) c.byCode[r.code] = (c.byCode[r.code] || 0) + 1;
      const st = r.status == null ? "none" : String(r.status);
      c.byStatus[st] = (c.byStatus[st] || 0) + 1;
      const op = r.operation || "(none)";
      c.byOperation[op] ||= {};
      c.byOperation[op][r.outcome] = (c.byOperation[op][r.outcome] || 0) + 1;
    }
    return c;
  }

  /** Polls predicate(this) every intervalMs until it returns a truthy value (returned) or timeoutMs passes (throws). */
  async waitFor(predicate, { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = {}) {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = await predicate(this);
      if (v) return v;
      if (performance.now() > end) throw new Error(`aws stand-in: timed out after ${timeoutMs} ms waiting for ${what}; counts: ${JSON.stringify(this.counts())}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  // ---- lifecycle -------------------------------------------------------------

  async listen(port = 0, host = "127.0.0.1") {
    await new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(port, host, () => resolve());
    });
    this.port = this._server.address().port;
    this.url = `http://${host}:${this.port}`;
    return this;
  }

  async close() {
    for (const h of this._hung) h.req.socket.destroy();
    this._hung = [];
    await new Promise((resolve) => {
      this._server.close(() => resolve());
      this._server.closeAllConnections();
    });
  }

  // ---- HTTP ----------------------------------------------------------------

  _onRequest(req, res) {
    const p = req.url.split("?")[0];
    const handle = p.startsWith("/_control/") ? this._control(req, res)
      : p === this.containerPath || p.startsWith("/latest/") ? this._credentialEndpoint(req, res)
        : this._api(req, res);
    handle.catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ __type: "InternalFailure", message: `stand-in error: ${err.message}` }));
      }
    });
  }

  _finish(rec, fields) {
    Object.assign(rec, fields);
    rec.finishedAt = this.now();
    this.emit("request", structuredClone(rec));
  }

  _send(res, status, obj, headers = {}) {
    const body = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, { "x-amzn-RequestId": randomUUID(), "content-length": body.length, ...headers });
    res.end(body);
  }

  _sendError(req, res, rec, status, code, message, outcome = "rejected", extra = {}) {
    const service = rec.service || "monitoring";
    const headers = {
      "content-type": service === "logs" ? LOGS.contentType : CLOUDWATCH.contentType,
      "x-amzn-ErrorType": code,
    };
    if (service === "monitoring") headers["x-amzn-query-error"] = `${code};${status >= 500 ? "Receiver" : "Sender"}`;
    if (req.socket.destroyed) return this._finish(rec, { status: null, code, message, outcome: "abandoned" });
    this._send(res, status, { __type: code, message }, headers);
    this._finish(rec, { status, code, message, outcome, ...extra });
  }

  async _api(req, res) {
    const target = req.headers["x-amz-target"];
    let { service, operation } = operationOf(target);
    if (!service) {
      const ct = String(req.headers["content-type"] || "");
      const scope = /Credential=[^/]*\/[^/]*\/[^/]*\/([^/]*)\//.exec(String(req.headers.authorization || ""));
      service = ct.startsWith(LOGS.contentType) || (scope && scope[1] === "logs") ? "logs" : "monitoring";
    }
    const rec = {
      seq: ++this._seq, at: this.now(), method: req.method, path: req.url, target: target ?? null, service, operation,
      headers: lowerHeaders(req), accessKeyId: null, bytes: 0, status: null, code: null, message: null, outcome: "pending",
    };
    this._requests.push(rec);
    const cap = service === "logs" ? LOGS.maxBodyBytes : CLOUDWATCH.maxBodyBytes;
    let body;
    try {
      body = await readBody(req, cap);
    } catch {
      return this._finish(rec, { outcome: "abandoned" });
    }
    rec.bytes = body.size;

    if (this._outageUntil > performance.now()) {
      const c = CODES[service];
      return this._sendError(req, res, rec, 503, c.unavailable, MSG.unavailable, "outage");
    }
    const fault = this._takeFault(rec);
    if (fault) {
      const c = CODES[service];
      rec.fault = fault.kind;
      switch (fault.kind) {
        case "throttle":
          return this._sendError(req, res, rec, fault.status || 400, c.throttle, MSG.throttle, "throttled");
        case "fail5xx": {
          const st = fault.status || 500;
          return this._sendError(req, res, rec, st, st === 503 ? c.unavailable : c.internal, st === 503 ? MSG.unavailable : MSG.internal, "failed");
        }
        case "hang":
          rec.outcome = "hung";
          this._hung.push({ req, res, rec, body });
          res.on("close", () => {
            if (!res.writableEnded && rec.outcome === "hung") this._finish(rec, { outcome: "abandoned" });
          });
          return;
        case "drop":
          this._finish(rec, { status: null, outcome: "dropped" });
          req.socket.destroy();
          return;
      }
    }
    return this._process(req, res, rec, body);
  }

  _takeFault(rec) {
    for (const f of this._faults) {
      if (f.remaining <= 0) continue;
      if (f.operation && f.operation !== rec.operation) continue;
      if (f.service && f.service !== rec.service) continue;
      f.remaining--;
      this._faults = this._faults.filter((x) => x.remaining > 0);
      return f;
    }
    return null;
  }

  _process(req, res, rec, body) {
    const service = rec.service;
    const c = CODES[service];
    if (body.truncated) {
      const limit = service === "logs" ? LOGS.maxBodyBytes : CLOUDWATCH.maxBodyBytes;
      return this._sendError(req, res, rec, 413, c.tooLarge, `Request size ${body.size} exceeded ${limit} bytes`);
    }

    const v = verifySigV4(
      { method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: body.buf },
      { region: this.region, service, now: this.now(), lookup: (k) => this._credentials.get(k), maxSkewMs: this.maxSkewMs, allowAbsentSignedHeaders: this.allowAbsentSignedHeaders },
    );
    if (!v.ok) {
      const extra = v.canonicalRequest ? { canonicalRequest: v.canonicalRequest, stringToSign: v.stringToSign } : {};
      rec.authFailure = v.kind;
      return this._sendError(req, res, rec, v.status, c[v.kind], v.message, "rejected", extra);
    }
    rec.accessKeyId = v.credential.accessKeyId;
    rec.sessionToken = !!v.credential.sessionToken;

    if (req.method !== "POST" || req.url.split("?")[0] !== "/") {
      return this._sendError(req, res, rec, 404, c.unknownOperation, `No operation at ${req.method} ${req.url}: the JSON protocol uses POST /.`);
    }
    if (rec.target == null) return this._sendError(req, res, rec, 400, c.unknownOperation, "Missing X-Amz-Target header (this stand-in only implements the JSON protocol).");
    const ops = service === "logs" ? LOGS_OPERATIONS : CW_OPERATIONS;
    if (!operationOf(rec.target).service || !ops.has(rec.operation)) {
      return this._sendError(req, res, rec, 400, c.unknownOperation, `Unknown or unsupported operation ${rec.target}.`);
    }
    const wantCt = service === "logs" ? LOGS.contentType : CLOUDWATCH.contentType;
    const ct = String(req.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
    if (ct !== wantCt) return this._sendError(req, res, rec, 400, c.serialization, `Content-Type must be ${wantCt} for ${rec.target}, got '${req.headers["content-type"] ?? ""}'.`);

    let payload;
    try {
      let raw = body.buf;
      const enc = String(req.headers["content-encoding"] || "identity").toLowerCase();
      if (enc === "gzip") {
        rec.gzip = true;
        raw = gunzipSync(raw, { maxOutputLength: CLOUDWATCH.maxDecompressedBytes });
      } else if (enc !== "identity") throw serialization(`Unsupported Content-Encoding '${enc}'.`);
      const text = raw.length ? new TextDecoder("utf-8", { fatal: true }).decode(raw) : "{}";
      payload = JSON.parse(text);
    } catch (e) {
      return this._sendError(req, res, rec, 400, c.serialization, e instanceof ApiError ? e.message : `Could not parse the request body: ${e.message}`);
    }

    let result;
    try {
      result = service === "logs" ? this._logsOperation(rec, payload, req) : this._putMetricData(rec, payload);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return this._sendError(req, res, rec, e.status, e.code, e.message);
    }
    if (req.socket.destroyed) return this._finish(rec, { outcome: "abandoned" });
    this._send(res, 200, result.body, { "content-type": wantCt });
    result.commit();
    this._finish(rec, { status: 200, outcome: "accepted" });
  }

  _putMetricData(rec, payload) {
    const { namespace, datums } = validatePutMetricData(payload, this.now());
    return {
      body: {},
      commit: () => this._received.push({
        seq: rec.seq, at: rec.at, namespace, datums, headers: rec.headers, accessKeyId: rec.accessKeyId,
        sessionToken: rec.sessionToken, bytes: rec.bytes, gzip: !!rec.gzip,
      }),
    };
  }

  _logsOperation(rec, p, req) {
    const notFound = (m) => new ApiError("ResourceNotFoundException", m);
    const exists = (m) => new ApiError("ResourceAlreadyExistsException", m);
    const nothing = () => {};
    switch (rec.operation) {
      case "CreateLogGroup": {
        if (!isObj(p)) throw serialization("The request body must be a JSON object.");
        const name = checkLogGroupName(p.logGroupName);
        if (this._groups.has(name)) throw exists("The specified log group already exists");
        return { body: {}, commit: () => this._groups.set(name, { name, createdAt: this.now(), streams: new Map() }) };
      }
      case "CreateLogStream": {
        if (!isObj(p)) throw serialization("The request body must be a JSON object.");
        const gname = checkLogGroupName(p.logGroupName);
        const sname = checkLogStreamName(p.logStreamName);
        const g = this._groups.get(gname);
        if (!g) throw notFound("The specified log group does not exist.");
        if (g.streams.has(sname)) throw exists("The specified log stream already exists");
        return { body: {}, commit: () => g.streams.set(sname, { name: sname, createdAt: this.now(), events: [] }) };
      }
      case "DescribeLogGroups": {
        const prefix = isObj(p) && typeof p.logGroupNamePrefix === "string" ? p.logGroupNamePrefix : "";
        const logGroups = [...this._groups.values()].filter((g) => g.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((g) => ({ logGroupName: g.name, creationTime: g.createdAt, storedBytes: 0, arn: `arn:aws:logs:${this.region}:123456789012:log-group:${g.name}:*` }));
        return { body: { logGroups }, commit: nothing };
      }
      case "DescribeLogStreams": {
        if (!isObj(p)) throw serialization("The request body must be a JSON object.");
        const g = this._groups.get(checkLogGroupName(p.logGroupName));
        if (!g) throw notFound("The specified log group does not exist.");
        const prefix = typeof p.logStreamNamePrefix === "string" ? p.logStreamNamePrefix : "";
        let logStreams = [...g.streams.values()].filter((s) => s.name.startsWith(prefix)).sort((a, b) => (a.name < b.name ? -1 : 1));
        if (Number.isInteger(p.limit) && p.limit > 0) logStreams = logStreams.slice(0, p.limit);
        return {
          body: {
            logStreams: logStreams.map((s) => {
              const o = { logStreamName: s.name, creationTime: s.createdAt, arn: `arn:aws:logs:${this.region}:123456789012:log-group:${g.name}:log-stream:${s.name}`, storedBytes: 0 };
              if (s.events.length) {
                o.firstEventTimestamp = Math.min(...s.events.map((e) => e.timestamp));
                o.lastEventTimestamp = Math.max(...s.events.map((e) => e.timestamp));
                o.lastIngestionTime = s.events[s.events.length - 1].ingestionTime;
              }
              return o;
            }),
          },
          commit: nothing,
        };
      }
      case "PutLogEvents": {
        const { events, batchBytes } = validatePutLogEvents(p);
        const g = this._groups.get(p.logGroupName);
        if (!g) throw notFound("The specified log group does not exist.");
        const s = g.streams.get(p.logStreamName);
        if (!s) throw notFound("The specified log stream does not exist.");
        const now = this.now();
        let tooOldEnd = -1;
        let tooNewStart = -1;
        events.forEach((e, i) => {
          if (e.timestamp < now - LOGS.maxAgeMs) tooOldEnd = i;
          if (e.timestamp > now + LOGS.maxAheadMs && tooNewStart < 0) tooNewStart = i;
        });
        const rejectedLogEventsInfo = {};
        if (tooOldEnd >= 0) rejectedLogEventsInfo.tooOldLogEventEndIndex = tooOldEnd;
        if (tooNewStart >= 0) rejectedLogEventsInfo.tooNewLogEventStartIndex = tooNewStart;
        const format = req.headers["x-amzn-logs-format"] ?? null;
        const emf = format === "json/emf";
        const kept = events
          .filter((e, i) => i > tooOldEnd && (tooNewStart < 0 || i < tooNewStart))
          .map((e) => ({ ...e, ingestionTime: now, emf }));
        const nextSequenceToken = String(++this._sequenceToken).padStart(56, "4");
        const body = { nextSequenceToken };
        if (Object.keys(rejectedLogEventsInfo).length) body.rejectedLogEventsInfo = rejectedLogEventsInfo;
        return {
          body,
          commit: () => {
            s.events.push(...kept);
            this._logBatches.push({
              seq: rec.seq, at: rec.at, group: g.name, stream: s.name, events: kept, sent: events.length, batchBytes,
              rejectedLogEventsInfo: body.rejectedLogEventsInfo || null, format, emf, headers: rec.headers, accessKeyId: rec.accessKeyId,
            });
          },
        };
      }
    }
    throw new ApiError("UnknownOperationException", `Unknown operation ${rec.operation}.`);
  }

  // ---- credential endpoints ------------------------------------------------

  async _credentialEndpoint(req, res) {
    await readBody(req, 64 * 1024).catch(() => null);
    const p = req.url.split("?")[0];
    const endpoint = p === this.containerPath ? "container"
      : p === "/latest/api/token" ? "imdsToken"
        : p === "/latest/meta-data/iam/security-credentials/" || p === "/latest/meta-data/iam/security-credentials" ? "imdsRoleName"
          : p.startsWith("/latest/meta-data/iam/security-credentials/") ? "imdsCredentials" : "imdsOther";
    const rec = { at: this.now(), endpoint, method: req.method, path: req.url, status: null };
    this._credentialRequests.push(rec);
    const reply = (status, body, type = "application/json") => {
      rec.status = status;
      const b = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
      res.writeHead(status, { "content-type": type, "content-length": b.length });
      res.end(b);
    };
    const text = (status, body) => reply(status, body, "text/plain");

    const fault = this._credentialFaults.find((f) => f.remaining > 0 && (!f.endpoint || (f.endpoint === "container" ? endpoint === "container" : endpoint !== "container")));
    if (fault) {
      fault.remaining--;
      this._credentialFaults = this._credentialFaults.filter((f) => f.remaining > 0);
      return reply(fault.status, { message: "injected failure" });
    }

    if (endpoint === "container") {
      if (req.method !== "GET") return reply(405, { message: "Method Not Allowed" });
      if (this._containerToken !== null) {
        const got = req.headers.authorization;
        if (got === undefined) return reply(401, { message: "Missing Authorization header" });
        if (got !== this._containerToken) return reply(401, { message: "Invalid Authorization token" });
      }
      if (!this._container) return reply(404, { message: "No container credentials configured" });
      const cr = this._container.rotate ? this._mintCredential({}, this._container.lifetimeMs, "container") : this._container.credential;
      if (this._container.rotate) this._container.credential = cr;
      return reply(200, {
        RoleArn: "arn:aws:iam::123456789012:role/gha-metrics-task",
        AccessKeyId: cr.accessKeyId, SecretAccessKey: cr.secretAccessKey, Token: cr.sessionToken, Expiration: isoSeconds(cr.expiration),
      });
    }

    // IMDSv2
    if (endpoint === "imdsToken") {
      if (req.method !== "PUT") return text(405, "Method Not Allowed");
      if (req.headers["x-forwarded-for"] !== undefined) return text(403, "Forbidden");
      const ttlRaw = req.headers["x-aws-ec2-metadata-token-ttl-seconds"];
      const ttl = Number(ttlRaw);
      if (ttlRaw === undefined || !/^\d+$/.test(ttlRaw) || ttl < 1 || ttl > 21600) return text(400, "Bad Request");
      const token = randomBytes(42).toString("base64");
      this._imdsTokens.set(token, this.now() + ttl * 1000);
      rec.status = 200;
      const b = Buffer.from(token);
      res.writeHead(200, { "content-type": "text/plain", "content-length": b.length, "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
      return res.end(b);
    }
    if (req.method !== "GET") return text(405, "Method Not Allowed");
    const tok = req.headers["x-aws-ec2-metadata-token"];
    const exp = tok === undefined ? undefined : this._imdsTokens.get(tok);
    if (exp === undefined || exp <= this.now()) return text(401, "Unauthorized");
    if (!this._imds || endpoint === "imdsOther") return text(404, "Not Found");
    if (endpoint === "imdsRoleName") return text(200, this._imds.role);
    const role = decodeURIComponent(p.slice("/latest/meta-data/iam/security-credentials/".length));
    if (role !== this._imds.role) return text(404, "Not Found");
    const cr = this._imds.rotate ? this._mintCredential({}, this._imds.lifetimeMs, "imds") : this._imds.credential;
    if (this._imds.rotate) this._imds.credential = cr;
    return reply(200, {
      Code: "Success", LastUpdated: isoSeconds(this.now()), Type: "AWS-HMAC",
      AccessKeyId: cr.accessKeyId, SecretAccessKey: cr.secretAccessKey, Token: cr.sessionToken, Expiration: isoSeconds(cr.expiration),
    });
  }

  // ---- control over HTTP -----------------------------------------------------

  async _control(req, res) {
    const { buf } = await readBody(req, 1_048_576);
    const u = new URL(req.url, "http://x");
    const name = u.pathname.slice("/_control/".length);
    const args = {};
    for (const [k, v] of u.searchParams) args[k] = v === "" ? true : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v === "Infinity" ? Infinity : v === "true" ? true : v === "false" ? false : v;
    if (buf.length) {
      try {
        Object.assign(args, JSON.parse(buf.toString("utf8")));
      } catch (e) {
        return this._send(res, 400, { error: `bad JSON: ${e.message}` }, { "content-type": "application/json" });
      }
    }
    const { n, ...opts } = args;
    const routes = {
      "received": () => this.received(),
      "datums": () => this.datums(),
      "requests": () => this.requests(),
      "counts": () => this.counts(),
      "log-groups": () => this.logGroups(),
      "log-events": () => this.logEvents(args.group, args.stream),
      "log-batches": () => this.logBatches(args.group, args.stream),
      "credential-hits": () => this.credentialHits(),
      "credential-requests": () => this.credentialRequests(),
      "credentials": () => this.credentials(),
      "faults": () => this.pendingFaults(),
      "throttle": () => this.throttle(n ?? 1, opts),
      "fail5xx": () => this.fail5xx(n ?? 1, opts),
      "hang": () => this.hang(n ?? 1, opts),
      "drop": () => this.drop(n ?? 1, opts),
      "outage": () => this.outage(args.ms),
      "release": () => ({ released: this.release(opts) }),
      "clear-faults": () => (this.clearFaults(), {}),
      "clear": () => (this.clear(), {}),
      "reset": () => (this.reset(), {}),
      "fail-credentials": () => this.failCredentials(n ?? 1, opts),
      "add-credential": () => this.addCredential(args),
      "remove-credential": () => this.removeCredential(args.accessKeyId),
      "container-credentials": () => this.setContainerCredentials(args.disable ? null : args),
      "container-token": () => (this.setContainerToken(args.token ?? null), {}),
      "imds-credentials": () => this.setImdsCredentials(args.disable ? null : args),
      "create-log-group": () => (this.createLogGroup(args.group, args.streams || []), {}),
      "clock": () => ({ offsetMs: args.offsetMs === undefined ? this._clockOffset : this.setClockOffset(args.offsetMs), now: this.now() }),
    };
    const fn = routes[name];
    if (!fn) return this._send(res, 404, { error: `unknown control ${name}`, controls: Object.keys(routes) }, { "content-type": "application/json" });
    try {
      const out = fn();
      this._send(res, 200, out === undefined ? {} : out, { "content-type": "application/json" });
    } catch (e) {
      this._send(res, 400, { error: e.message }, { "content-type": "application/json" });
    }
  }
}

/**
 * Starts the stand-in. Options: credentials ([{ accessKeyId, secretAccessKey, sessionToken?, expiration? }],
 * default [DEFAULT_CREDENTIAL]), region ("eu-west-1"), port (0), host ("127.0.0.1"), containerPath ("/creds"),
 * maxSkewMs (15 min), allowAbsentSignedHeaders (false). Resolves to the AwsStandIn (url, port, region and the methods above).
 */
export async function startAws(opts = {}) {
  const aws = new AwsStandIn(opts);
  return aws.listen(opts.port ?? 0, opts.host ?? "127.0.0.1");
}

/**
 * Drives a stand-in running in another process (e.g. the CLI) over /_control: the same method names as
 * AwsStandIn, each returning a promise. url: the stand-in's base URL.
 */
export function connectAws(url) {
  const base = url.replace(/\/$/, "");
  const call = async (name, body, query) => {
    const qs = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v != null)).toString() : "";
    const r = await fetch(`${base}/_control/${name}${qs}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) throw new Error(`aws stand-in control ${name}: ${j.error || r.status}`);
    return j;
  };
  const fault = (name) => (n = 1, opts = {}) => call(name, { ...opts, n });
  return {
    url: base,
    received: () => call("received"),
    datums: () => call("datums"),
    requests: () => call("requests"),
    counts: () => call("counts"),
    logGroups: () => call("log-groups"),
    logEvents: (group, stream) => call("log-events", undefined, { group, stream }),
    logBatches: (group, stream) => call("log-batches", undefined, { group, stream }),
    credentialHits: () => call("credential-hits"),
    credentialRequests: () => call("credential-requests"),
    credentials: () => call("credentials"),
    pendingFaults: () => call("faults"),
    throttle: fault("throttle"),
    fail5xx: fault("fail5xx"),
    hang: fault("hang"),
    drop: fault("drop"),
    failCredentials: fault("fail-credentials"),
    outage: (ms) => call("outage", { ms: ms === Infinity ? 1e15 : ms }),
    release: (opts = {}) => call("release", opts).then((r) => r.released),
    clearFaults: () => call("clear-faults", {}),
    clear: () => call("clear", {}),
    reset: () => call("reset", {}),
    addCredential: (c) => call("add-credential", c),
    removeCredential: (accessKeyId) => call("remove-credential", { accessKeyId }),
    setContainerCredentials: (o = {}) => call("container-credentials", o === null ? { disable: true } : o),
    setContainerToken: (token) => call("container-token", { token }),
    setImdsCredentials: (o = {}) => call("imds-credentials", o === null ? { disable: true } : o),
    createLogGroup: (group, streams = []) => call("create-log-group", { group, streams }),
    setClockOffset: (offsetMs) => call("clock", { offsetMs }).then((r) => r.offsetMs),
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

async function main(argv) {
  const opts = { credentials: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") opts.port = Number(next());
    else if (a === "--host") opts.host = next();
    else if (a === "--region") opts.region = next();
    else if (a === "--container-path") opts.containerPath = next();
    else if (a === "--credential") {
      const [accessKeyId, secretAccessKey, ...rest] = next().split(":");
      opts.credentials.push({ accessKeyId, secretAccessKey, sessionToken: rest.length ? rest.join(":") : undefined });
    } else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node tests/servers/aws.mjs [--port N] [--host H] [--region R] [--container-path P] [--credential AKID:SECRET[:TOKEN]]...\n");
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  const aws = await startAws(opts);
  process.stdout.write(JSON.stringify({ url: aws.url, port: aws.port, region: aws.region, credentials: aws.credentials() }) + "\n");
  const stop = () => aws.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`aws stand-in: ${e.message}\n`);
    process.exit(2);
  });
}
