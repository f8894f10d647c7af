// Tests of the Lambda Runtime API stand-in itself (tests/servers/lambda-runtime.mjs):
//   node --test tests/servers/lambda-runtime.test.mjs
// The tests play the custom runtime with node:http, so every request and header is under their control.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { API_VERSION, DEFAULT_FUNCTION_ARN, MAX_RESPONSE_BYTES, connectRuntime, startRuntime } from "./lambda-runtime.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACE_RE = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]$/;

/** → { status, headers, text, json }; rejects on a transport error. */
function request(url, { method = "GET", headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("lambda runtime stand-in", () => {
  let rt;
  const api = (p) => `${rt.url}/${API_VERSION}/runtime/${p}`;
  const next = (opts) => request(api("invocation/next"), opts);
  const respond = (id, body, headers = {}) => request(api(`invocation/${encodeURIComponent(id)}/response`), { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  const fail = (id, body, headers = {}) => request(api(`invocation/${encodeURIComponent(id)}/error`), { method: "POST", body, headers });

  beforeEach(async () => {
    rt = await startRuntime();
  });
  afterEach(async () => rt.close());

  test("address is host:port and url is http://address", () => {
    assert.match(rt.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(rt.url, `http://${rt.address}`);
  });

  test("next serves queued invocations in order, with every header Lambda sends", async () => {
    const before = Date.now();
    const ids = [rt.invoke({ n: 1 }), rt.invoke({ n: 2 }), rt.invoke({ n: 3 })];
    for (let i = 0; i < 3; i++) {
      const r = await next();
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-type"], "application/json");
      assert.equal(r.headers["lambda-runtime-aws-request-id"], ids[i]);
      assert.match(ids[i], UUID_RE);
      assert.equal(r.headers["lambda-runtime-invoked-function-arn"], DEFAULT_FUNCTION_ARN);
      assert.match(r.headers["lambda-runtime-trace-id"], TRACE_RE);
      const deadline = Number(r.headers["lambda-runtime-deadline-ms"]);
      assert.ok(deadline >= before + 300_000 && deadline <= Date.now() + 300_000, `deadline ${deadline}`);
      assert.deepEqual(r.json, { n: i + 1 });
      assert.equal((await respond(ids[i], JSON.stringify({ ok: i }))).status, 202);
    }
    const res = rt.results();
    assert.deepEqual(res.map((x) => [x.requestId, x.kind, x.json.ok]), ids.map((id, i) => [id, "response", i]));
    assert.deepEqual(rt.violations(), []);
  });

  test("next is held until an invocation is queued (long poll)", async () => {
    const p = next();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rt.status().heldPolls, 1);
    const id = rt.invoke({ late: true });
    const r = await p;
    assert.equal(r.headers["lambda-runtime-aws-request-id"], id);
    assert.deepEqual(r.json, { late: true });
  });

  test("given deadline, trace id and ARN are passed; null leaves the header out", async () => {
    const a = rt.invoke({}, { deadlineMs: 1_700_000_000_123, traceId: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1", functionArn: "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime" });
    let r = await next();
    assert.equal(r.headers["lambda-runtime-deadline-ms"], "1700000000123");
    assert.equal(r.headers["lambda-runtime-trace-id"], "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1");
    assert.equal(r.headers["lambda-runtime-invoked-function-arn"], "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime");
    await respond(a, "{}");
    rt.invoke({}, { deadlineMs: null, traceId: null, requestId: "fixed-id" });
    r = await next();
    assert.equal(r.headers["lambda-runtime-aws-request-id"], "fixed-id");
    assert.equal(r.headers["lambda-runtime-deadline-ms"], undefined);
    assert.equal(r.headers["lambda-runtime-trace-id"], undefined);
    assert.throws(() => rt.invoke({}, { requestId: "fixed-id" }), /already used/);
  });

  test("a raw body that is not JSON is served verbatim", async () => {
    const id = rt.invokeRaw("this is { not json");
    const r = await next();
    assert.equal(r.text, "this is { not json");
    const e = await fail(id, JSON.stringify({ errorMessage: "bad event", errorType: "Runtime.UnmarshalError" }), { "lambda-runtime-function-error-type": "Runtime.UnmarshalError" });
    assert.equal(e.status, 202);
    assert.deepEqual(e.json, { status: "OK" });
    const [res] = rt.results();
    assert.equal(res.kind, "error");
    assert.equal(res.errorType, "Runtime.UnmarshalError");
    assert.deepEqual(res.json, { errorMessage: "bad event", errorType: "Runtime.UnmarshalError" });
  });

  test("an error without Lambda-Runtime-Function-Error-Type is accepted, as by AWS, and recorded so", async () => {
    const id = rt.invoke({});
    await next();
    const e = await fail(id, "plain text");
    assert.equal(e.status, 202);
    const [res] = rt.results();
    assert.equal(res.errorType, null);
    assert.equal(res.isJson, false);
    assert.equal(res.text, "plain text");
    assert.equal(res.body, "plain text");
    assert.equal(res.json, null);
  });

  test("an answer for an unknown request id → 400 InvalidRequestID", async () => {
    let r = await respond("nope", "{}");
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { errorMessage: "Invalid request ID", errorType: "InvalidRequestID" });
    rt.invoke({});
    await next();
    r = await fail("other", "{}");
    assert.equal(r.status, 400);
    assert.equal(r.json.errorType, "InvalidRequestID");
    assert.equal(rt.results().length, 0);
    assert.deepEqual(rt.violations().map((v) => [v.status, v.errorType]), [[400, "InvalidRequestID"], [400, "InvalidRequestID"]]);
  });

  test("a second answer to the same invocation → 403 InvalidStateTransition; after the next poll → 400", async () => {
    const id = rt.invoke({});
    await next();
    assert.equal((await respond(id, "{}")).status, 202);
    let r = await respond(id, "{}");
    assert.equal(r.status, 403);
    assert.equal(r.json.errorType, "InvalidStateTransition");
    assert.match(r.json.errorMessage, /from RuntimeResponseSentState to InvocationResponse/);
    r = await fail(id, "{}");
    assert.equal(r.status, 403);
    assert.match(r.json.errorMessage, /to InvocationErrorResponse/);
    const held = next(); // no invocation queued: stays held
    await new Promise((res) => setTimeout(res, 100));
    r = await respond(id, "{}");
    assert.equal(r.status, 400);
    assert.equal(rt.results().length, 1);
    rt.invoke({});
    await held;
  });

  test("next before answering delivers the same invocation again and is recorded as a violation", async () => {
    const id = rt.invoke({ a: 1 });
    rt.invoke({ b: 2 });
    await next();
    const again = await next();
    assert.equal(again.headers["lambda-runtime-aws-request-id"], id);
    assert.deepEqual(again.json, { a: 1 });
    assert.equal(rt.violations().length, 1);
    await respond(id, "{}");
    assert.equal(rt.results()[0].deliveries, 2);
    assert.deepEqual((await next()).json, { b: 2 });
  });

  test("init/error is accepted before the first poll only; after it, next → 403", async () => {
    const body = JSON.stringify({ errorMessage: "config: bad", errorType: "Runtime.InitError" });
    let r = await request(api("init/error"), { method: "POST", body, headers: { "lambda-runtime-function-error-type": "Runtime.InitError" } });
    assert.equal(r.status, 202);
    assert.deepEqual(rt.initErrors().map((e) => [e.errorType, e.json.errorMessage]), [["Runtime.InitError", "config: bad"]]);
    r = await next();
    assert.equal(r.status, 403);
    assert.match(r.json.errorMessage, /from InitError to Ready/);
    r = await request(api("init/error"), { method: "POST", body });
    assert.equal(r.status, 403);

    await rt.close();
    rt = await startRuntime();
    rt.invoke({});
    await next();
    r = await request(api("init/error"), { method: "POST", body });
    assert.equal(r.status, 403);
    assert.match(r.json.errorMessage, /from Ready to InitError/);
  });

  test("unknown paths → 404, wrong methods → 405", async () => {
    assert.equal((await request(`${rt.url}/2018-06-01/runtime/invocation`)).status, 404);
    assert.equal((await request(`${rt.url}/2020-01-01/runtime/invocation/next`)).status, 404);
    assert.equal((await request(`${rt.url}/runtime/invocation/next`)).status, 404);
    const r = await request(api("invocation/next"), { method: "POST", body: "{}" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET");
    assert.equal((await request(api("invocation/x/response"))).status, 405);
    assert.equal((await request(api("init/error"))).status, 405);
    assert.deepEqual(rt.violations().map((v) => v.status), [404, 404, 404, 405, 405, 405]);
  });

  test("a response over 6 MiB → 413, recorded as Function.ResponseSizeTooLarge", async () => {
    const id = rt.invoke({});
    await next();
    const r = await respond(id, "x".repeat(MAX_RESPONSE_BYTES + 1));
    assert.equal(r.status, 413);
    assert.equal(r.json.errorType, "RequestEntityTooLarge");
    const [res] = rt.results();
    assert.equal(res.kind, "error");
    assert.equal(res.errorType, "Function.ResponseSizeTooLarge");
    assert.equal((await respond(id, "{}")).status, 403);
  });

  test("waitForResults resolves once answers are in, and rejects on timeout", async () => {
    const id = rt.invoke({});
    const w = rt.waitForResults(1, 5000);
    await next();
    await respond(id, '{"done":true}');
    const res = await w;
    assert.deepEqual(res[0].json, { done: true });
    assert.deepEqual(res[0].body, { done: true }); // parsed, since it is JSON
    assert.equal(res[0].text, '{"done":true}');
    assert.deepEqual((await rt.waitForResult(id, { timeoutMs: 1000 })).json, { done: true });
    await assert.rejects(rt.waitForResults(2, 100), /1 of 2 results/);
    await assert.rejects(rt.waitForResults(2, { timeoutMs: 100 }), /1 of 2 results/);
  });

  test("close() ends a held poll with a transport error (Lambda going away)", async () => {
    const p = next();
    await new Promise((r) => setTimeout(r, 100));
    await rt.close();
    await assert.rejects(p, /socket hang up|ECONNRESET/);
    await assert.rejects(next(), /ECONNREFUSED/);
  });

  test("the control API over HTTP: invoke, results, wait, requests, reset", async () => {
    const c = connectRuntime(rt.url);
    assert.equal(c.address, rt.address);
    const a = await c.invoke({ x: 1 }, { traceId: "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1" });
    const b = await c.invokeRaw("raw!", { deadlineMs: null });
    let r = await next();
    assert.equal(r.headers["lambda-runtime-aws-request-id"], a);
    assert.equal(r.headers["lambda-runtime-trace-id"], "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1");
    const w = c.waitForResults(2, 5000);
    await respond(a, "[1]");
    r = await next();
    assert.equal(r.text, "raw!");
    assert.equal(r.headers["lambda-runtime-deadline-ms"], undefined);
    await fail(b, "{}", { "lambda-runtime-function-error-type": "X" });
    const res = await w;
    assert.deepEqual(res.map((x) => [x.requestId, x.kind]), [[a, "response"], [b, "error"]]);
    const snap = await c.snapshot();
    assert.equal(snap.state, "RuntimeResponseSentState");
    assert.equal(snap.queued, 0);
    assert.equal((await c.requests()).filter((q) => q.path.endsWith("/next")).length, 2);
    await assert.rejects(c.waitForResults(3, 100), /3 results|of 3/);
    await assert.rejects(c.invoke({}, { requestId: a }), /already used/);
    const bad = await request(`${rt.url}/_control/invoke`, { method: "POST", body: "nope" });
    assert.equal(bad.status, 400);
    await c.reset();
    assert.deepEqual(await c.results(), []);
    assert.equal((await c.snapshot()).state, "Started");
  });

  test("reset() is a fresh sandbox: held polls are reset and init/error is accepted again", async () => {
    rt.invoke({});
    const first = await next();
    await respond(first.headers["lambda-runtime-aws-request-id"], "{}");
    const held = next();
    await new Promise((r) => setTimeout(r, 100));
    rt.reset();
    await assert.rejects(held, /socket hang up|ECONNRESET/);
    assert.deepEqual(rt.results(), []);
    const r = await request(api("init/error"), { method: "POST", body: '{"errorMessage":"m","errorType":"T"}', headers: { "lambda-runtime-function-error-type": "T" } });
    assert.equal(r.status, 202);
    assert.deepEqual(rt.initErrors()[0].body, { errorMessage: "m", errorType: "T" });
  });
});

describe("lambda runtime stand-in, out of process", () => {
  const children = [];
  after(() => children.forEach((c) => c.kill("SIGKILL")));

  function spawnStandIn(args) {
    const child = spawn(process.execPath, [path.join(HERE, "lambda-runtime.mjs"), "--port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const nl = out.indexOf("\n");
        if (nl >= 0) resolve({ child, info: JSON.parse(out.slice(0, nl)) });
      });
      child.on("exit", (code) => reject(new Error(`stand-in exited ${code}`)));
    });
  }

  const exited = (child) => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on("exit", (code) => resolve(code))));

  test("--event queues raw events; prints {url, address}; SIGTERM exits 0", async () => {
    const { child, info } = await spawnStandIn(["--event", '{"a":1}', "--event", "not json", "--function-arn", "arn:x"]);
    assert.match(info.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(info.url, `http://${info.address}`);
    const base = `${info.url}/2018-06-01/runtime`;
    let r = await request(`${base}/invocation/next`);
    assert.equal(r.text, '{"a":1}');
    assert.equal(r.headers["lambda-runtime-invoked-function-arn"], "arn:x");
    await request(`${base}/invocation/${r.headers["lambda-runtime-aws-request-id"]}/response`, { method: "POST", body: "{}" });
    r = await request(`${base}/invocation/next`);
    assert.equal(r.text, "not json");
    const res = await connectRuntime(info.url).results();
    assert.equal(res.length, 1);
    child.kill("SIGTERM");
    assert.equal(await exited(child), 0);
  });

  test("/_control/shutdown closes a held poll and exits", async () => {
    const { child, info } = await spawnStandIn([]);
    const p = request(`${info.url}/2018-06-01/runtime/invocation/next`);
    await new Promise((r) => setTimeout(r, 100));
    await connectRuntime(info.url).shutdown();
    await assert.rejects(p, /socket hang up|ECONNRESET/);
    assert.equal(await exited(child), 0);
  });
});
