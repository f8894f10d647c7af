// Tests of the AWS stand-in itself (tests/servers/aws.mjs):
//   node --test tests/servers/aws.test.mjs
// Signed requests are sent by the real curl binary (--aws-sigv4), the
// independent SigV4 implementation the stand-in is checked against.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import {
  canonicalQuery, canonicalUri, connectAws, sha256Hex, signingKey, signRequest, startAws, toAmzDate, verifySigV4,
} from "./aws.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REGION = "eu-west-1";
const CW_TARGET = "GraniteServiceVersion20100801.PutMetricData";
const KEY = { accessKeyId: "AKIATESTKEY00000001", secretAccessKey: "test/Secret+Key/0001abcdefghijklmnopqrs" };
const TEMP = { accessKeyId: "ASIATESTKEY00000002", secretAccessKey: "temp/Secret+Key/0002abcdefghijklmnopqrs", sessionToken: "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+test/token==" };

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Runs curl; → { exit, status, headers (lower-case object), text, json, stderr }. */
function curl(args, { input, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve) => {
    // No "-H Expect:": curl 7.88 would list "expect" in SignedHeaders without sending it (curl issue #11664).
    const child = spawn("curl", ["-sS", "-i", "-w", "\n@@STATUS@@%{http_code}", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (c) => out.push(c));
    child.stderr.on("data", (c) => err.push(c));
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
    child.on("close", (exit) => {
      clearTimeout(timer);
      const all = Buffer.concat(out).toString("utf8");
      const m = all.lastIndexOf("\n@@STATUS@@");
      const status = Number(all.slice(m + "\n@@STATUS@@".length)) || 0;
      let resp = all.slice(0, m);
      while (/^HTTP\/[\d.]+ 1\d\d/.test(resp)) resp = resp.slice(resp.indexOf("\r\n\r\n") + 4); // 100 Continue
      const split = resp.indexOf("\r\n\r\n");
      const head = split < 0 ? "" : resp.slice(0, split);
      const text = split < 0 ? "" : resp.slice(split + 4);
      const headers = {};
      for (const line of head.split("\r\n").slice(1)) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let json;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ exit, status, headers, text, json, stderr: Buffer.concat(err).toString() });
    });
  });
}

/**
 * A signed AWS JSON-protocol request with curl --aws-sigv4.
 * opts: target, body (object → JSON, string, Buffer), cred ({accessKeyId, secretAccessKey, sessionToken}),
 * region, service (from the target), contentType, headers (extra, also signed by curl), path, args.
 */
function awsCurl(url, { target = CW_TARGET, body = {}, cred = KEY, region = REGION, service, contentType, headers = {}, path: p = "/", args = [], timeoutMs } = {}) {
  const svc = service ?? (String(target).startsWith("Logs_") ? "logs" : "monitoring");
  const ct = contentType ?? (svc === "logs" ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0");
  const argv = ["--aws-sigv4", `aws:amz:${region}:${svc}`, "--user", `${cred.accessKeyId}:${cred.secretAccessKey}`, "-H", `Content-Type: ${ct}`];
  if (target) argv.push("-H", `X-Amz-Target: ${target}`);
  if (cred.sessionToken) argv.push("-H", `X-Amz-Security-Token: ${cred.sessionToken}`);
  for (const [k, v] of Object.entries(headers)) argv.push("-H", `${k}: ${v}`);
  argv.push("--data-binary", "@-", ...args, url + p);
  const input = Buffer.isBuffer(body) || typeof body === "string" ? body : JSON.stringify(body);
  return curl(argv, { input, timeoutMs });
}

const logs = (url, op, body, opts = {}) => awsCurl(url, { target: `Logs_20140328.${op}`, body, ...opts });

const nowS = () => Date.now() / 1000;

function datum(over = {}) {
  return { MetricName: "RunDuration", Dimensions: [{ Name: "Repository", Value: "octo/hello" }], Timestamp: nowS(), Unit: "Seconds", Value: 12.5, ...over };
}

function pmd(over = {}, datums = [datum()]) {
  return { Namespace: "GitHubActions", MetricData: datums, ...over };
}

/** A server that records one request and answers 200: used to capture what curl signs. */
async function captureServer() {
  const seen = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      res.end("{}");
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${srv.address().port}`, seen, close: () => new Promise((r) => srv.close(r)) };
}

/** Sends a captured request (possibly altered) to the stand-in, headers exactly as captured (Host included). */
function replay(url, cap, { body = cap.body, set = {}, remove = [] } = {}) {
  const headers = {};
  for (let i = 0; i < cap.rawHeaders.length; i += 2) headers[cap.rawHeaders[i]] = cap.rawHeaders[i + 1];
  for (const k of Object.keys(headers)) {
    if (remove.includes(k.toLowerCase()) || k.toLowerCase() in set || k.toLowerCase() === "content-length") delete headers[k];
  }
  Object.assign(headers, set, { "Content-Length": Buffer.byteLength(body) });
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, method: cap.method, path: cap.url, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A request signed by this module's signer (for dates curl cannot produce), sent with Node's http. */
function sendSigned(url, { target = CW_TARGET, body = pmd(), cred = KEY, service = "monitoring", amzDate, extraHeaders = {}, contentSha256 } = {}) {
  const text = JSON.stringify(body);
  if (contentSha256 !== undefined) extraHeaders = { ...extraHeaders, "x-amz-content-sha256": contentSha256 === true ? sha256Hex(text) : contentSha256 };
  const u = new URL(url);
  const { headers } = signRequest({
    method: "POST", url: "/", body: text, ...cred, region: REGION, service, amzDate,
    headers: { Host: u.host, "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target, ...extraHeaders },
  });
  return replay(url, { method: "POST", url: "/", rawHeaders: Object.entries(headers).flat(), body: Buffer.from(text) });
}

function assertAwsError(r, status, code, messagePart) {
  assert.equal(r.status, status, `status: ${r.status} ${r.text}`);
  assert.equal(r.json?.__type, code, `__type: ${r.text}`);
  assert.equal(typeof r.json.message, "string");
  assert.equal(r.headers["x-amzn-errortype"], code);
  if (messagePart) assert.match(r.json.message, messagePart);
}

// ---------------------------------------------------------------------------

let aws;
before(async () => {
  aws = await startAws({ credentials: [KEY, TEMP], region: REGION });
});
after(() => aws.close());
beforeEach(() => aws.reset());

describe("SigV4", () => {
  const EX_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

  test("AWS's published examples: signing key, get-vanilla, IAM ListUsers", () => {
    assert.equal(signingKey(EX_SECRET, "20120215", "us-east-1", "iam").toString("hex"), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    assert.equal(signingKey(EX_SECRET, "20150830", "us-east-1", "iam").toString("hex"), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    const vanilla = signRequest({ method: "GET", url: "/", headers: { Host: "example.amazonaws.com" }, body: "", accessKeyId: "AKIDEXAMPLE", secretAccessKey: EX_SECRET, region: "us-east-1", service: "service", amzDate: "20150830T123600Z" });
    assert.equal(vanilla.canonicalRequest, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(vanilla.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    const iam = signRequest({ method: "GET", url: "/?Action=ListUsers&Version=2010-05-08", headers: { Host: "iam.amazonaws.com", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" }, body: "", accessKeyId: "AKIDEXAMPLE", secretAccessKey: EX_SECRET, region: "us-east-1", service: "iam", amzDate: "20150830T123600Z" });
    assert.equal(sha256Hex(iam.canonicalRequest), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    assert.equal(iam.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    // and the verifier accepts the example (its own clock set to the example's date)
    const v = verifySigV4({ method: "GET", url: "/?Action=ListUsers&Version=2010-05-08", headers: iam.headers, body: Buffer.alloc(0) }, {
      region: "us-east-1", service: "iam", now: Date.UTC(2015, 7, 30, 12, 36), lookup: (k) => (k === "AKIDEXAMPLE" ? { secretAccessKey: EX_SECRET } : undefined),
    });
    assert.equal(v.ok, true, JSON.stringify(v));
  });

  test("canonical URI and query string per the spec", () => {
    assert.equal(canonicalUri("/"), "/");
    assert.equal(canonicalUri(""), "/");
    assert.equal(canonicalUri("/a/./b/../c"), "/a/c");
    assert.equal(canonicalUri("/a b/%20"), "/a%20b/%2520"); // non-S3: the path is encoded again
    assert.equal(canonicalQuery("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
    assert.equal(canonicalQuery("k=x%20y&k2=a+b&%7e=~"), "k=x%20y&k2=a%2Bb&~=~");
  });

  test("curl --aws-sigv4 and this implementation compute the same signature", async () => {
    const cap = await captureServer();
    try {
      await awsCurl(cap.url, { cred: TEMP, body: pmd(), headers: { "X-Amz-Meta-Note": "  spaced    out  value " } });
      await awsCurl(cap.url, { target: "Logs_20140328.PutLogEvents", body: { a: 1 }, path: "/?a=1&b=x%20y", headers: { "x-amzn-logs-format": "json/emf" } });
      await awsCurl(cap.url, { body: "" , path: "/some/path" });
      assert.equal(cap.seen.length, 3);
      for (const r of cap.seen) {
        const h = Object.fromEntries(r.rawHeaders.reduce((a, x, i, arr) => (i % 2 ? a : [...a, [x, arr[i + 1]]]), []));
        const m = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})/.exec(h.Authorization);
        assert.ok(m, h.Authorization);
        const cred = m[1] === TEMP.accessKeyId ? TEMP : KEY;
        const signed = m[5].split(";");
        const mine = signRequest({
          method: r.method, url: r.url, body: r.body, accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey,
          region: m[3], service: m[4], amzDate: h["X-Amz-Date"],
          headers: Object.fromEntries(Object.entries(h).filter(([k]) => signed.includes(k.toLowerCase()) && k.toLowerCase() !== "x-amz-date")),
          signedHeaders: signed,
        });
        assert.equal(mine.signature, m[6], `signature of ${r.url}\n${mine.canonicalRequest}`);
        const v = verifySigV4(r, { region: REGION, service: m[4], lookup: (k) => (k === cred.accessKeyId ? cred : undefined) });
        assert.equal(v.ok, true, JSON.stringify(v));
      }
      assert.match(cap.seen[0].rawHeaders.join("\n"), /SignedHeaders=content-type;host;x-amz-date;x-amz-meta-note;x-amz-security-token;x-amz-target/);
    } finally {
      await cap.close();
    }
  });

  test("the stand-in accepts curl's signed requests, with and without a session token", async () => {
    const a = await awsCurl(aws.url, { body: pmd() });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.json, {});
    const b = await awsCurl(aws.url, { cred: TEMP, body: pmd() });
    assert.equal(b.status, 200, b.text);
    const got = aws.received();
    assert.equal(got.length, 2);
    assert.equal(got[0].accessKeyId, KEY.accessKeyId);
    assert.equal(got[1].accessKeyId, TEMP.accessKeyId);
    assert.equal(got[1].sessionToken, true);
    assert.equal(got[1].headers["x-amz-security-token"], TEMP.sessionToken);
  });

  test("tampering and wrong credentials are rejected", async () => {
    const cap = await captureServer();
    let signed;
    let tokenless;
    try {
      await awsCurl(cap.url, { cred: TEMP, body: pmd() });
      await awsCurl(cap.url, { body: pmd() });
      [signed, tokenless] = cap.seen;
    } finally {
      await cap.close();
    }
    const sig = /^The request signature we calculated does not match/;
    // the untouched replay passes (the replay itself is faithful)
    assert.equal((await replay(aws.url, signed)).status, 200);
    const body2 = Buffer.from(signed.body.toString().replace("12.5", "13.5"));
    assertAwsError(await replay(aws.url, signed, { body: body2 }), 403, "SignatureDoesNotMatch", sig);
    assertAwsError(await replay(aws.url, signed, { set: { "content-type": "application/x-amz-json-1.0; charset=utf-8" } }), 403, "SignatureDoesNotMatch", sig);
    assertAwsError(await replay(aws.url, signed, { set: { host: "monitoring.eu-west-1.amazonaws.com" } }), 403, "SignatureDoesNotMatch", sig);
    assertAwsError(await replay(aws.url, signed, { set: { "x-amz-meta-extra": "1" } }), 403, "SignatureDoesNotMatch", /not signed: x-amz-meta-extra/);
    // a security token added after signing is an unsigned x-amz-* header
    assertAwsError(await replay(aws.url, tokenless, { set: { "X-Amz-Security-Token": "whatever" } }), 403, "SignatureDoesNotMatch", /not signed: x-amz-security-token/);
    // x-amz-content-sha256: must match the body when sent
    assertAwsError(await sendSigned(aws.url, { contentSha256: sha256Hex("something else") }), 403, "SignatureDoesNotMatch", /x-amz-content-sha256/);
    assert.equal((await sendSigned(aws.url, { contentSha256: true })).status, 200);

    const [wrongSecret, wrongRegion, wrongService, unknownKey, noToken, badToken, tokenOnPermanent, logsWrongSecret] = await Promise.all([
      awsCurl(aws.url, { cred: { ...KEY, secretAccessKey: "not-the-secret" } }),
      awsCurl(aws.url, { region: "us-east-1" }),
      awsCurl(aws.url, { service: "logs" }),
      awsCurl(aws.url, { cred: { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" } }),
      awsCurl(aws.url, { cred: { ...TEMP, sessionToken: undefined } }),
      awsCurl(aws.url, { cred: { ...TEMP, sessionToken: TEMP.sessionToken + "x" } }),
      awsCurl(aws.url, { cred: { ...KEY, sessionToken: "unexpected" } }),
      logs(aws.url, "CreateLogGroup", { logGroupName: "g" }, { cred: { ...KEY, secretAccessKey: "nope" } }),
    ]);
    assertAwsError(wrongSecret, 403, "SignatureDoesNotMatch", sig);
    assertAwsError(wrongRegion, 403, "SignatureDoesNotMatch", /valid region, not 'us-east-1'/);
    assertAwsError(wrongService, 403, "SignatureDoesNotMatch", /correct service: 'monitoring'/);
    assertAwsError(unknownKey, 403, "InvalidClientTokenId", /security token included in the request is invalid/);
    assertAwsError(noToken, 403, "InvalidClientTokenId", /security token included in the request is invalid/);
    assertAwsError(badToken, 403, "InvalidClientTokenId", /security token included in the request is invalid/);
    assertAwsError(tokenOnPermanent, 403, "InvalidClientTokenId");
    assertAwsError(logsWrongSecret, 403, "InvalidSignatureException", sig);
    assert.equal(wrongSecret.headers["x-amzn-query-error"], "SignatureDoesNotMatch;Sender");

    // dates out of the 15-minute window, and a scope date that is not x-amz-date's
    assertAwsError(await sendSigned(aws.url, { amzDate: toAmzDate(Date.now() - 16 * 60_000) }), 403, "SignatureDoesNotMatch", /^Signature expired/);
    assertAwsError(await sendSigned(aws.url, { amzDate: toAmzDate(Date.now() + 16 * 60_000) }), 403, "SignatureDoesNotMatch", /^Signature not yet current/);
    assert.equal((await sendSigned(aws.url, { amzDate: toAmzDate(Date.now() - 14 * 60_000) })).status, 200);
    // curl 7.88 signs a header removed with -H "Expect:" that is never sent: AWS refuses such requests
    const expect = await awsCurl(aws.url, { body: pmd(), headers: {}, args: ["-H", "Expect:"] });
    assertAwsError(expect, 400, "IncompleteSignature", /'expect' is named as a SignedHeader, but it does not exist in the HTTP request/);
    // no Authorization at all
    const unsigned = await curl(["-H", "Content-Type: application/x-amz-json-1.0", "-H", `X-Amz-Target: ${CW_TARGET}`, "--data-binary", "@-", aws.url + "/"], { input: JSON.stringify(pmd()) });
    assertAwsError(unsigned, 403, "MissingAuthenticationToken");

    assert.equal(aws.received().length, 3); // the faithful replay, the right content hash, the 14-minute-old signature
    const rec = aws.requests().find((r) => r.code === "SignatureDoesNotMatch" && r.canonicalRequest);
    assert.ok(rec.canonicalRequest.startsWith("POST\n/\n\n"), "rejected signatures keep the canonical request for debugging");
  });
});

describe("PutMetricData", () => {
  test("valid requests are accepted and recorded exactly", async () => {
    const t = Math.floor(nowS()) - 60;
    const iso = new Date((t - 60) * 1000).toISOString();
    const body = pmd({}, [
      datum({ Timestamp: t + 0.25, Dimensions: [{ Name: "Repository", Value: "octo/hello" }, { Name: "Workflow", Value: "CI" }] }),
      { MetricName: "JobDuration", Timestamp: iso, Unit: "Seconds", Values: [1, 2.5, 7], Counts: [3, 1, 2], StorageResolution: 1 },
      { MetricName: "QueueTime", StatisticValues: { SampleCount: 4, Sum: 10, Minimum: 1, Maximum: 4 }, Unit: "Milliseconds" },
      { MetricName: "Runs", Values: [1], Dimensions: [] },
    ]);
    const r = await awsCurl(aws.url, { body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers["content-type"], "application/x-amz-json-1.0");
    assert.ok(r.headers["x-amzn-requestid"]);
    const [rec] = aws.received();
    assert.equal(rec.namespace, "GitHubActions");
    assert.equal(rec.accessKeyId, KEY.accessKeyId);
    assert.equal(rec.headers["x-amz-target"], CW_TARGET);
    const d = aws.datums();
    assert.equal(d.length, 4);
    assert.deepEqual(d[0], {
      namespace: "GitHubActions", metricName: "RunDuration", dimensions: { Repository: "octo/hello", Workflow: "CI" },
      dimensionList: [{ Name: "Repository", Value: "octo/hello" }, { Name: "Workflow", Value: "CI" }],
      timestamp: (t + 0.25) * 1000, unit: "Seconds", storageResolution: null, value: 12.5,
    });
    assert.equal(d[1].timestamp, Date.parse(iso));
    assert.deepEqual([d[1].values, d[1].counts, d[1].storageResolution], [[1, 2.5, 7], [3, 1, 2], 1]);
    assert.deepEqual(d[2].statisticValues, { SampleCount: 4, Sum: 10, Minimum: 1, Maximum: 4 });
    assert.deepEqual([d[3].values, d[3].counts, d[3].timestamp, d[3].unit], [[1], null, null, null]);
    const c = aws.counts();
    assert.equal(c.accepted, 1);
    assert.equal(c.datums, 4);
  });

  test("every limit at its boundary is accepted", async () => {
    const dims = (n, len = 5) => Array.from({ length: n }, (_, i) => ({ Name: `D${i}`.padEnd(len, "n"), Value: "v" }));
    const reqs = [
      pmd({}, Array.from({ length: 1000 }, (_, i) => datum({ MetricName: `M${i}` }))),
      pmd({}, [datum({ Dimensions: dims(30) })]),
      pmd({}, [datum({ Dimensions: [{ Name: "N".repeat(255), Value: "V".repeat(1024) }] })]),
      pmd({}, [datum({ Value: undefined, Values: Array.from({ length: 150 }, (_, i) => i), Counts: Array(150).fill(1) })]),
      pmd({ Namespace: "N".repeat(255) }, [datum({ MetricName: "M".repeat(255) })]),
      pmd({}, [datum({ Timestamp: nowS() - 14 * 86400 + 120 }), datum({ Timestamp: nowS() + 2 * 3600 - 120 })]),
      pmd({}, [datum({ Value: 2 ** 360 }), datum({ Value: -(2 ** 360) }), datum({ StorageResolution: 60 })]),
      pmd({ Namespace: "Team/CI-metrics_v2#1: x" }),
    ];
    const out = await Promise.all(reqs.map((b) => awsCurl(aws.url, { body: b })));
    out.forEach((r, i) => assert.equal(r.status, 200, `request ${i}: ${r.text}`));
    // a body of exactly 1,048,576 bytes passes; gzip bodies are decoded
    const base = JSON.stringify(pmd());
    const exact = base.slice(0, -1) + `,"Pad":"${"x".repeat(1_048_576 - base.length - 9)}"}`;
    assert.equal(Buffer.byteLength(exact), 1_048_576);
    assert.equal((await awsCurl(aws.url, { body: exact })).status, 200);
    const gz = await awsCurl(aws.url, { body: gzipSync(JSON.stringify(pmd())), headers: { "Content-Encoding": "gzip" } });
    assert.equal(gz.status, 200, gz.text);
    assert.equal(aws.received().at(-1).gzip, true);
    assert.equal(aws.counts().datums, 1000 + 1 + 1 + 1 + 1 + 2 + 3 + 1 + 1 + 1);
  });

  test("every limit violated → AWS's error", async () => {
    const big = JSON.stringify(pmd());
    const tooBig = big.slice(0, -1) + `,"Pad":"${"x".repeat(1_048_577 - big.length - 9)}"}`;
    assert.equal(Buffer.byteLength(tooBig), 1_048_577);
    const IPV = "InvalidParameterValue";
    const cases = [
      ["body over 1 MB", { body: tooBig }, 413, "RequestEntityTooLarge"],
      ["1001 datums", { body: pmd({}, Array.from({ length: 1001 }, () => datum())) }, 400, IPV, /MetricData must not have a size greater than 1000/],
      ["151 values", { body: pmd({}, [datum({ Value: undefined, Values: Array.from({ length: 151 }, (_, i) => i) })]) }, 400, IPV, /Values must not have a size greater than 150/],
      ["counts length", { body: pmd({}, [datum({ Value: undefined, Values: [1, 2], Counts: [1] })]) }, 400, IPV, /same size/],
      ["31 dimensions", { body: pmd({}, [datum({ Dimensions: Array.from({ length: 31 }, (_, i) => ({ Name: `D${i}`, Value: "v" })) })]) }, 400, IPV, /Dimensions must not have a size greater than 30/],
      ["dimension name 256", { body: pmd({}, [datum({ Dimensions: [{ Name: "N".repeat(256), Value: "v" }] })]) }, 400, IPV, /between 1 and 255/],
      ["dimension value 1025", { body: pmd({}, [datum({ Dimensions: [{ Name: "N", Value: "v".repeat(1025) }] })]) }, 400, IPV, /between 1 and 1024/],
      ["empty dimension value", { body: pmd({}, [datum({ Dimensions: [{ Name: "N", Value: "" }] })]) }, 400, IPV],
      ["blank dimension value", { body: pmd({}, [datum({ Dimensions: [{ Name: "N", Value: "   " }] })]) }, 400, IPV, /non-whitespace/],
      ["non-ASCII dimension value", { body: pmd({}, [datum({ Dimensions: [{ Name: "Workflow", Value: "Déploiement 🚀" }] })]) }, 400, IPV, /ASCII/],
      ["duplicate dimension", { body: pmd({}, [datum({ Dimensions: [{ Name: "R", Value: "a" }, { Name: "R", Value: "b" }] })]) }, 400, IPV, /more than once/],
      ["dimension without Value", { body: pmd({}, [datum({ Dimensions: [{ Name: "R" }] })]) }, 400, "MissingParameter"],
      ["metric name 256", { body: pmd({}, [datum({ MetricName: "M".repeat(256) })]) }, 400, IPV],
      ["metric name missing", { body: pmd({}, [datum({ MetricName: undefined })]) }, 400, "MissingParameter", /MetricData.member.1.MetricName is required/],
      ["namespace 256", { body: pmd({ Namespace: "N".repeat(256) }) }, 400, IPV],
      ["namespace AWS/", { body: pmd({ Namespace: "AWS/EC2" }) }, 400, IPV, /AWS\/ prefix/],
      ["namespace missing", { body: { MetricData: [datum()] } }, 400, "MissingParameter", /Namespace is required/],
      ["MetricData missing", { body: { Namespace: "x" } }, 400, "MissingParameter"],
      ["MetricData empty", { body: pmd({}, []) }, 400, "MissingParameter"],
      ["bad unit", { body: pmd({}, [datum({ Unit: "Secs" })]) }, 400, IPV, /Unit is invalid/],
      ["value 2^361", { body: pmd({}, [datum({ Value: 2 ** 361 })]) }, 400, IPV],
      ["value 1e999 (Infinity)", { body: JSON.stringify(pmd()).replace('"Value":12.5', '"Value":1e999') }, 400, IPV],
      ["NaN literal", { body: JSON.stringify(pmd()).replace('"Value":12.5', '"Value":NaN') }, 400, "SerializationException"],
      ["value in Values 2^361", { body: pmd({}, [datum({ Value: undefined, Values: [1, -(2 ** 361)] })]) }, 400, IPV],
      ["Value and Values", { body: pmd({}, [datum({ Values: [1] })]) }, 400, "InvalidParameterCombination"],
      ["Value and StatisticValues", { body: pmd({}, [datum({ StatisticValues: { SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1 } })]) }, 400, "InvalidParameterCombination"],
      ["no value", { body: pmd({}, [datum({ Value: undefined })]) }, 400, "InvalidParameterCombination"],
      ["Counts without Values", { body: pmd({}, [datum({ Counts: [1] })]) }, 400, "InvalidParameterCombination"],
      ["StatisticValues without Sum", { body: pmd({}, [datum({ Value: undefined, StatisticValues: { SampleCount: 1, Minimum: 1, Maximum: 1 } })]) }, 400, "MissingParameter"],
      ["timestamp 15 days old", { body: pmd({}, [datum({ Timestamp: nowS() - 15 * 86400 })]) }, 400, IPV, /two weeks in the past/],
      ["timestamp 3 h ahead", { body: pmd({}, [datum({ Timestamp: nowS() + 3 * 3600 })]) }, 400, IPV, /two hours in the future/],
      ["timestamp not a date", { body: pmd({}, [datum({ Timestamp: "yesterday" })]) }, 400, "SerializationException"],
      ["storage resolution 5", { body: pmd({}, [datum({ StorageResolution: 5 })]) }, 400, IPV],
      ["value as string", { body: pmd({}, [datum({ Value: "1" })]) }, 400, "SerializationException"],
      ["malformed JSON", { body: '{"Namespace":' }, 400, "SerializationException"],
      ["wrong content type", { body: pmd(), contentType: "application/json" }, 400, "SerializationException", /Content-Type must be application\/x-amz-json-1.0/],
      ["unknown operation", { body: pmd(), target: "GraniteServiceVersion20100801.GetMetricData" }, 400, "UnknownOperationException"],
    ];
    const results = await Promise.all(cases.map(([, opts]) => awsCurl(aws.url, opts)));
    cases.forEach(([name, , status, code, msg], i) => {
      const r = results[i];
      assert.equal(r.status, status, `${name}: ${r.status} ${r.text.slice(0, 300)}`);
      assert.equal(r.json?.__type, code, `${name}: ${r.text.slice(0, 300)}`);
      assert.equal(r.headers["x-amzn-errortype"], code, name);
      if (msg) assert.match(r.json.message, msg, name);
    });
    assert.equal(aws.received().length, 0);
    const c = aws.counts();
    assert.equal(c.rejected, cases.length);
    assert.equal(c.byCode.InvalidParameterValue, cases.filter((x) => x[3] === IPV).length);
  });
});

describe("faults", () => {
  test("throttle(n): the next n requests get 400 Throttling and are not received", async () => {
    aws.throttle(2);
    const a = await awsCurl(aws.url, { body: pmd() });
    const b = await awsCurl(aws.url, { body: pmd() });
    const c = await awsCurl(aws.url, { body: pmd() });
    assertAwsError(a, 400, "Throttling", /^Rate exceeded$/);
    assert.equal(a.headers["x-amzn-query-error"], "Throttling;Sender");
    assertAwsError(b, 400, "Throttling");
    assert.equal(c.status, 200);
    assert.equal(aws.received().length, 1);
    assert.deepEqual(aws.requests().map((r) => r.outcome), ["throttled", "throttled", "accepted"]);
    aws.throttle(1, { status: 429 });
    assertAwsError(await awsCurl(aws.url, { body: pmd() }), 429, "Throttling");
    // Logs answer ThrottlingException; a filter limits the fault to one operation
    aws.throttle(1, { operation: "PutLogEvents" });
    assert.equal((await logs(aws.url, "CreateLogGroup", { logGroupName: "/g" })).status, 200);
    assert.equal((await logs(aws.url, "CreateLogStream", { logGroupName: "/g", logStreamName: "s" })).status, 200);
    const t = await logs(aws.url, "PutLogEvents", { logGroupName: "/g", logStreamName: "s", logEvents: [{ timestamp: Date.now(), message: "m" }] });
    assertAwsError(t, 400, "ThrottlingException");
    assert.equal(aws.logEvents("/g", "s").length, 0);
  });

  test("fail5xx(n): 500 InternalFailure / 503 ServiceUnavailable", async () => {
    aws.fail5xx(1);
    aws.fail5xx(1, { status: 503 });
    assertAwsError(await awsCurl(aws.url, { body: pmd() }), 500, "InternalFailure");
    const b = await awsCurl(aws.url, { body: pmd() });
    assertAwsError(b, 503, "ServiceUnavailable");
    assert.equal(b.headers["x-amzn-query-error"], "ServiceUnavailable;Receiver");
    assert.equal((await awsCurl(aws.url, { body: pmd() })).status, 200);
    assert.equal(aws.received().length, 1);
    assert.equal(aws.counts().failed, 2);
  });

  test("hang(n): no answer until release(); a client that gave up is not counted", async () => {
    aws.hang(2);
    const gaveUp = await awsCurl(aws.url, { body: pmd(), args: ["--max-time", "1"] });
    assert.equal(gaveUp.exit, 28, "curl timed out");
    await aws.waitFor((a) => a.requests()[0].outcome === "abandoned", { what: "abandoned" });
    const waiting = awsCurl(aws.url, { body: pmd() });
    await aws.waitFor((a) => a.counts().hung === 1, { what: "hung request" });
    assert.equal(aws.received().length, 0);
    assert.equal(aws.release(), 1);
    const r = await waiting;
    assert.equal(r.status, 200, r.text);
    assert.equal(aws.received().length, 1);
    assert.equal(aws.release(), 0);
    // release({ process: false }) drops the connection instead
    aws.hang(1);
    const dropped = awsCurl(aws.url, { body: pmd() });
    await aws.waitFor((a) => a.counts().hung === 1);
    aws.release({ process: false });
    assert.equal((await dropped).exit, 52);
    assert.equal(aws.received().length, 1);
  });

  test("drop(n): the connection is destroyed after the body, no answer", async () => {
    aws.drop(1);
    const r = await awsCurl(aws.url, { body: pmd() });
    assert.equal(r.exit, 52, r.stderr); // curl: Empty reply from server
    assert.equal(r.status, 0);
    assert.equal((await awsCurl(aws.url, { body: pmd() })).status, 200);
    assert.equal(aws.received().length, 1);
    assert.deepEqual(aws.requests().map((x) => x.outcome), ["dropped", "accepted"]);
  });

  test("outage(ms): everything 503 for that long; reset() clears faults", async () => {
    aws.outage(400);
    assertAwsError(await awsCurl(aws.url, { body: pmd() }), 503, "ServiceUnavailable");
    assertAwsError(await logs(aws.url, "CreateLogGroup", { logGroupName: "/o" }), 503, "ServiceUnavailableException");
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await awsCurl(aws.url, { body: pmd() })).status, 200);
    aws.outage(Infinity);
    aws.throttle(5);
    aws.reset();
    assert.equal((await awsCurl(aws.url, { body: pmd() })).status, 200);
    assert.equal(aws.counts().outage, 0, "reset() also cleared the records");
  });
});

describe("CloudWatch Logs", () => {
  test("groups, streams and PutLogEvents", async () => {
    const G = "/gha-metrics/runs";
    assert.equal((await logs(aws.url, "CreateLogGroup", { logGroupName: G })).status, 200);
    assertAwsError(await logs(aws.url, "CreateLogGroup", { logGroupName: G }), 400, "ResourceAlreadyExistsException");
    const ev = [{ timestamp: Date.now() - 1000, message: '{"_aws":{}}' }];
    assertAwsError(await logs(aws.url, "PutLogEvents", { logGroupName: G, logStreamName: "host-1", logEvents: ev }), 400, "ResourceNotFoundException", /log stream does not exist/);
    assertAwsError(await logs(aws.url, "PutLogEvents", { logGroupName: "/nope", logStreamName: "host-1", logEvents: ev }), 400, "ResourceNotFoundException", /log group does not exist/);
    assertAwsError(await logs(aws.url, "CreateLogStream", { logGroupName: "/nope", logStreamName: "s" }), 400, "ResourceNotFoundException");
    assert.equal((await logs(aws.url, "CreateLogStream", { logGroupName: G, logStreamName: "host-1" })).status, 200);
    assertAwsError(await logs(aws.url, "CreateLogStream", { logGroupName: G, logStreamName: "host-1" }), 400, "ResourceAlreadyExistsException");
    assertAwsError(await logs(aws.url, "CreateLogGroup", { logGroupName: "bad name!" }), 400, "InvalidParameterException");

    const t0 = Date.now() - 10_000;
    const ok = await logs(aws.url, "PutLogEvents", {
      logGroupName: G, logStreamName: "host-1",
      logEvents: [{ timestamp: t0, message: '{"a":1}' }, { timestamp: t0, message: "é" }, { timestamp: t0 + 5, message: "x" }],
    }, { headers: { "x-amzn-logs-format": "json/emf" } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers["content-type"], "application/x-amz-json-1.1");
    assert.match(ok.json.nextSequenceToken, /^\d+$/);
    assert.equal(ok.json.rejectedLogEventsInfo, undefined);
    const events = aws.logEvents(G, "host-1");
    assert.deepEqual(events.map((e) => [e.timestamp, e.message, e.emf]), [[t0, '{"a":1}', true], [t0, "é", true], [t0 + 5, "x", true]]);
    const [batch] = aws.logBatches(G);
    assert.equal(batch.format, "json/emf");
    assert.equal(batch.batchBytes, 7 + 2 + 1 + 3 * 26);
    const plain = await logs(aws.url, "PutLogEvents", { logGroupName: G, logStreamName: "host-1", logEvents: [{ timestamp: t0 + 10, message: "y" }] });
    assert.equal(plain.status, 200);
    assert.equal(aws.logBatches(G, "host-1")[1].emf, false);
    const d = await logs(aws.url, "DescribeLogStreams", { logGroupName: G, logStreamNamePrefix: "host" });
    assert.equal(d.status, 200);
    assert.deepEqual(d.json.logStreams.map((s) => [s.logStreamName, s.firstEventTimestamp, s.lastEventTimestamp]), [["host-1", t0, t0 + 10]]);
    assert.equal(aws.counts().logEvents, 4);
  });

  test("limits: order, span, count, batch size, empty message; too old / too new reported", async () => {
    const G = "/lim";
    aws.createLogGroup(G, ["s"]);
    const now = Date.now();
    const put = (logEvents, opts) => logs(aws.url, "PutLogEvents", { logGroupName: G, logStreamName: "s", logEvents }, opts);
    const IPE = "InvalidParameterException";
    const [order, span, count, size, empty, none, exactSize, maxCount] = await Promise.all([
      put([{ timestamp: now, message: "b" }, { timestamp: now - 1, message: "a" }]),
      put([{ timestamp: now - 25 * 3600_000, message: "a" }, { timestamp: now, message: "b" }]),
      put(Array.from({ length: 10_001 }, () => ({ timestamp: now, message: "m" }))),
      put([{ timestamp: now, message: "x".repeat(524_262) }, { timestamp: now, message: "x".repeat(524_263) }]),
      put([{ timestamp: now, message: "" }]),
      put([]),
      put([{ timestamp: now, message: "x".repeat(524_262) }, { timestamp: now, message: "é".repeat(262_131) }]),
      put(Array.from({ length: 10_000 }, () => ({ timestamp: now, message: "m" }))),
    ]);
    assertAwsError(order, 400, IPE, /chronological order/);
    assertAwsError(span, 400, IPE, /span more than 24 hours/);
    assertAwsError(count, 400, IPE, /10000/);
    assertAwsError(size, 400, IPE, /Upload too large: 1048577 bytes/);
    assertAwsError(empty, 400, IPE, /length greater than or equal to 1/);
    assertAwsError(none, 400, IPE);
    assert.equal(exactSize.status, 200, exactSize.text); // 524262+26 + 2*262131+26 = 1,048,576
    assert.equal(maxCount.status, 200, maxCount.text);
    assert.equal(aws.logEvents(G, "s").length, 10_002);

    // the 24-hour span counts every event, too old ones included: refused whole
    const r = await put([{ timestamp: now - 15 * 86400_000, message: "old" }, { timestamp: now - 13 * 86400_000, message: "ok" }]);
    assertAwsError(r, 400, IPE, /24 hours/);
    aws.createLogGroup(G, ["t"]);
    const old = now - 14 * 86400_000 - 3600_000;
    const r1 = await logs(aws.url, "PutLogEvents", {
      logGroupName: G, logStreamName: "t",
      logEvents: [{ timestamp: old, message: "old" }, { timestamp: old + 1, message: "old2" }, { timestamp: now - 14 * 86400_000 + 3600_000, message: "kept" }],
    });
    assert.equal(r1.status, 200, r1.text);
    assert.deepEqual(r1.json.rejectedLogEventsInfo, { tooOldLogEventEndIndex: 1 });
    const r2 = await logs(aws.url, "PutLogEvents", {
      logGroupName: G, logStreamName: "t",
      logEvents: [{ timestamp: now, message: "kept2" }, { timestamp: now + 3 * 3600_000, message: "new" }],
    });
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(r2.json.rejectedLogEventsInfo, { tooNewLogEventStartIndex: 1 });
    assert.deepEqual(aws.logEvents(G, "t").map((e) => e.message), ["kept", "kept2"]);
  });
});

describe("credential endpoints", () => {
  test("container endpoint: token required, credentials accepted by SigV4, hits counted, expiry enforced", async () => {
    aws.setContainerToken("secret-token");
    const served = aws.setContainerCredentials({ expiresInMs: 10 * 60_000 });
    const none = await curl([aws.url + "/creds"]);
    assert.equal(none.status, 401);
    const wrong = await curl(["-H", "Authorization: nope", aws.url + "/creds"]);
    assert.equal(wrong.status, 401);
    const ok = await curl(["-H", "Authorization: secret-token", aws.url + "/creds"]);
    assert.equal(ok.status, 200, ok.text);
    const c = ok.json;
    assert.deepEqual(Object.keys(c).sort(), ["AccessKeyId", "Expiration", "RoleArn", "SecretAccessKey", "Token"]);
    assert.equal(c.AccessKeyId, served.accessKeyId);
    assert.match(c.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Math.abs(Date.parse(c.Expiration) - (Date.now() + 600_000)) < 5_000);
    const cred = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token };
    assert.equal((await awsCurl(aws.url, { cred, body: pmd() })).status, 200);
    assertAwsError(await awsCurl(aws.url, { cred: { ...cred, sessionToken: undefined }, body: pmd() }), 403, "InvalidClientTokenId");
    assert.deepEqual(aws.credentialHits().container, { total: 3, ok: 1, denied: 2, failed: 0 });
    // past its expiry (the stand-in's clock moved 11 minutes ahead) → ExpiredToken
    aws.setClockOffset(11 * 60_000);
    const expired = await sendSigned(aws.url, { cred, amzDate: toAmzDate(aws.now()) });
    assertAwsError(expired, 403, "ExpiredToken", /expired/);
    aws.setClockOffset(0);
    // rotation: each fetch mints a new credential
    aws.setContainerToken(null);
    aws.setContainerCredentials({ rotate: true, expiresInMs: 60_000 });
    const r1 = (await curl([aws.url + "/creds"])).json;
    const r2 = (await curl([aws.url + "/creds"])).json;
    assert.notEqual(r1.AccessKeyId, r2.AccessKeyId);
    for (const r of [r1, r2]) assert.equal((await awsCurl(aws.url, { cred: { accessKeyId: r.AccessKeyId, secretAccessKey: r.SecretAccessKey, sessionToken: r.Token }, body: pmd() })).status, 200);
    aws.failCredentials(1, { endpoint: "container" });
    assert.equal((await curl([aws.url + "/creds"])).status, 500);
    assert.equal(aws.credentialHits().container.failed, 1);
  });

  test("IMDSv2: token PUT, role name, credentials; IMDSv1 refused", async () => {
    const served = aws.setImdsCredentials({ role: "gha-role", expiresInMs: 3600_000 });
    const base = aws.url + "/latest/meta-data/iam/security-credentials/";
    assert.equal((await curl([base])).status, 401, "GET without a token (IMDSv1)");
    assert.equal((await curl(["-X", "PUT", aws.url + "/latest/api/token"])).status, 400, "PUT without TTL");
    assert.equal((await curl(["-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 99999", aws.url + "/latest/api/token"])).status, 400);
    const tok = await curl(["-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 21600", aws.url + "/latest/api/token"]);
    assert.equal(tok.status, 200);
    assert.equal(tok.headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
    const H = ["-H", `X-aws-ec2-metadata-token: ${tok.text}`];
    assert.equal((await curl(["-H", "X-aws-ec2-metadata-token: bogus", base])).status, 401);
    const role = await curl([...H, base]);
    assert.equal(role.status, 200);
    assert.equal(role.text, "gha-role");
    assert.equal((await curl([...H, base + "other-role"])).status, 404);
    const cr = await curl([...H, base + "gha-role"]);
    assert.equal(cr.status, 200);
    assert.equal(cr.json.Code, "Success");
    assert.equal(cr.json.Type, "AWS-HMAC");
    assert.equal(cr.json.AccessKeyId, served.accessKeyId);
    assert.equal(cr.json.Token, served.sessionToken);
    const cred = { accessKeyId: cr.json.AccessKeyId, secretAccessKey: cr.json.SecretAccessKey, sessionToken: cr.json.Token };
    assert.equal((await awsCurl(aws.url, { cred, body: pmd() })).status, 200);
    assert.equal(aws.received()[0].accessKeyId, served.accessKeyId);
    const hits = aws.credentialHits();
    assert.deepEqual(hits.imdsToken, { total: 3, ok: 1, denied: 2, failed: 0 });
    assert.deepEqual(hits.imdsRoleName, { total: 3, ok: 1, denied: 2, failed: 0 });
    assert.deepEqual(hits.imdsCredentials, { total: 2, ok: 1, denied: 1, failed: 0 });
    // an IMDS token expires with the stand-in's clock
    aws.setClockOffset(21_601_000);
    assert.equal((await curl([...H, base])).status, 401);
  });
});

describe("control over HTTP and the CLI", () => {
  test("node aws.mjs --port 0 prints its url; connectAws drives it", async () => {
    const child = spawn(process.execPath, [path.join(HERE, "aws.mjs"), "--port", "0", "--credential", `${KEY.accessKeyId}:${KEY.secretAccessKey}`], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const line = await new Promise((resolve, reject) => {
        let buf = "";
        child.stdout.on("data", (c) => {
          buf += c;
          if (buf.includes("\n")) resolve(buf.split("\n")[0]);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const info = JSON.parse(line);
      assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(info.region, "eu-west-1");
      const remote = connectAws(info.url);
      await remote.throttle(1);
      assertAwsError(await awsCurl(info.url, { body: pmd() }), 400, "Throttling");
      assert.equal((await awsCurl(info.url, { body: pmd() })).status, 200);
      assert.equal((await remote.received()).length, 1);
      assert.equal((await remote.datums())[0].metricName, "RunDuration");
      const counts = await remote.counts();
      assert.equal(counts.throttled, 1);
      assert.equal(counts.accepted, 1);
      await remote.createLogGroup("/r", ["s"]);
      assert.equal((await logs(info.url, "PutLogEvents", { logGroupName: "/r", logStreamName: "s", logEvents: [{ timestamp: Date.now(), message: "hi" }] })).status, 200);
      assert.deepEqual((await remote.logEvents("/r", "s")).map((e) => e.message), ["hi"]);
      const creds = await remote.setContainerCredentials({ expiresInMs: 60_000 });
      assert.equal((await curl([info.url + "/creds"])).json.AccessKeyId, creds.accessKeyId);
      await remote.reset();
      assert.equal((await remote.requests()).length, 0);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
