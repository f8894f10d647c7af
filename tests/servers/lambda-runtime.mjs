#!/usr/bin/env node
// A test stand-in for the AWS Lambda Runtime API (version 2018-06-01), the local HTTP API a custom runtime
// (`bootstrap` on provided.al2023) polls for invocations, on one HTTP port:
//
//   GET  /2018-06-01/runtime/invocation/next            long poll: held until an invocation is queued, then
//                                                       200 with the event as body and the headers
//                                                       Lambda-Runtime-Aws-Request-Id, -Deadline-Ms,
//                                                       -Invoked-Function-Arn, -Trace-Id
//   POST /2018-06-01/runtime/invocation/{id}/response   202 {"status":"OK"}; > 6 MiB → 413 (recorded as an
//                                                       error, as Lambda does)
//   POST /2018-06-01/runtime/invocation/{id}/error      202; header Lambda-Runtime-Function-Error-Type
//                                                       (optional, as for AWS: its absence is recorded)
//   POST /2018-06-01/runtime/init/error                 202 before the first /next, 403 afterwards
//   /_control/...                                       queueing, inspection, shutdown (see below)
//
// The contract is enforced the way Lambda (and its runtime interface emulator) does: one invocation at a
// time; an answer for an id that is not the current invocation → 400 {"errorType":"InvalidRequestID"}; a
// second answer to the current one → 403 {"errorType":"InvalidStateTransition"}; init/error after the first
// /next → 403; /next after init/error → 403; unknown paths → 404; a wrong method on a known path → 405.
// A /next while the current invocation is unanswered delivers that invocation again (as the emulator does)
// and is recorded as a violation. Every 4xx answered is recorded in `violations`.
//
// In-process:   const rt = await startRuntime();  rt.invoke({ since: "..." });  rt.invokeRaw("not json");
//               AWS_LAMBDA_RUNTIME_API=rt.address ...;  await rt.waitForResults(2);  rt.results();
// Out of process: node tests/servers/lambda-runtime.mjs --port 0 [--host H] [--event TEXT]...
//                 [--function-arn ARN] [--timeout-ms N]
//                 prints one JSON line {"url", "address", "port"}; connectRuntime(url) drives it.
//
// Control over HTTP (no AWS counterpart):
//   POST /_control/invoke     {"event": <JSON>} or {"body": "<raw text>"}, optional "requestId",
//                             "deadlineMs" (epoch ms; null: no header), "traceId" (null: no header),
//                             "functionArn", "timeoutMs" → {"requestId"}
//   GET  /_control/results    {results, initErrors, violations, state, current, queued, polls}
//   GET  /_control/wait?count=N&timeoutMs=T   the same once N results are in (408 on timeout)
//   GET  /_control/requests   every runtime API request seen (method, path, headers, status)
//   POST /_control/reset      a fresh sandbox: queue and results forgotten, state back to Started, held
//                             polls reset
//   POST /_control/shutdown   answers, then closes every connection (held polls included); the CLI exits
//
// Only node: built-ins are used.

import http from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

export const API_VERSION = "2018-06-01";
/** Synchronous invocation payload limit (request and response): 6 MB. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;
export const DEFAULT_FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:gha-metrics-backfill";
/** The function timeout the default deadline is computed from (delivery time + this). */
export const DEFAULT_TIMEOUT_MS = 300_000;

export const HEADERS = Object.freeze({
  requestId: "lambda-runtime-aws-request-id",
  deadline: "lambda-runtime-deadline-ms",
  functionArn: "lambda-runtime-invoked-function-arn",
  traceId: "lambda-runtime-trace-id",
  errorType: "lambda-runtime-function-error-type",
});

// The runtime's states, named as the runtime interface emulator names them (they appear in its messages).
const STARTED = "Started";
const READY = "Ready";
const SENT = "RuntimeResponseSentState";
const INIT_ERROR = "InitError";
const TO_RESPONSE = "InvocationResponse";
const TO_ERROR = "InvocationErrorResponse";

const NOT_ALLOWED = "State transition is not allowed";
const transitionMessage = (from, to) => `State transition from ${from} to ${to} failed for runtime. Error: ${NOT_ALLOWED}`;

/** An X-Ray trace header as Lambda passes it: Root=1-<epoch s hex>-<96 bits hex>;Parent=<64 bits hex>;Sampled=0. */
export function makeTraceId(nowMs = Date.now()) {
  const epoch = Math.floor(nowMs / 1000).toString(16).padStart(8, "0");
  return `Root=1-${epoch}-${randomBytes(12).toString("hex")};Parent=${randomBytes(8).toString("hex")};Sampled=0`;
}

function readBody(req, cap) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n <= cap) chunks.push(c);
    });
    req.on("end", () => resolve({ buf: Buffer.concat(chunks), size: n }));
    req.on("error", reject);
  });
}

function tryJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, value: null };
  }
}

class HttpError extends Error {
  constructor(status, errorType, message) {
    super(message);
    this.status = status;
    this.errorType = errorType;
  }
}

// ---------------------------------------------------------------------------
// The stand-in
// ---------------------------------------------------------------------------

export class LambdaRuntimeStandIn extends EventEmitter {
  /**
   * opts: functionArn (DEFAULT_FUNCTION_ARN), timeoutMs (DEFAULT_TIMEOUT_MS: deadline = delivery + this),
   * maxResponseBytes (6 MiB), events ([] of raw bodies: strings or Buffers, queued in order).
   */
  constructor(opts = {}) {
    super();
    this.functionArn = opts.functionArn ?? DEFAULT_FUNCTION_ARN;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.url = null;
    this.address = null;
    this.port = null;
    this._closed = false;
    this._sockets = new Set();
    this._reset();
    for (const e of opts.events ?? []) this.invokeRaw(e);
    this._server = http.createServer((req, res) => this._onRequest(req, res));
    this._server.keepAliveTimeout = 60_000; // the runtime reuses its connection between invocations
    this._server.headersTimeout = 0;
    this._server.requestTimeout = 0;
    this._server.on("connection", (s) => {
      this._sockets.add(s);
      s.on("close", () => this._sockets.delete(s));
    });
  }

  _reset() {
    this._state = STARTED;
    this._queue = [];
    this._current = null; // the invocation delivered last, until the next /next after its answer
    this._pollers = []; // held /next responses
    this._results = [];
    this._initErrors = [];
    this._violations = [];
    this._requests = [];
    this._polls = 0;
    for (const w of this._resultWaiters ?? []) w.reject(new Error("lambda runtime stand-in reset"));
    this._resultWaiters = [];
  }

  /**
   * A fresh sandbox: forgets the queue, the results and the runtime's state (back to Started, so init/error
   * is accepted again). Held polls belong to the old runtime process: their connections are reset.
   */
  reset() {
    const held = this._pollers;
    this._reset();
    for (const res of held) res.destroy();
  }

  listen(port = 0, host = "127.0.0.1") {
    return new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(port, host, () => {
        const a = this._server.address();
        this.port = a.port;
        const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
        this.address = `${h}:${a.port}`;
        this.url = `http://${this.address}`;
        resolve(this);
      });
    });
  }

  /** Closes the port and every connection: held polls end with a reset, as when Lambda goes away. */
  close() {
    if (this._closed) return Promise.resolve();
    this._closed = true;
    for (const w of this._resultWaiters) w.reject(new Error("lambda runtime stand-in closed"));
    this._resultWaiters = [];
    return new Promise((resolve) => {
      this._server.close(() => resolve());
      for (const s of this._sockets) s.destroy();
      this._server.closeAllConnections?.();
    });
  }

  // ---- invocations -----------------------------------------------------------

  /**
   * Queues an invocation whose event is `event` serialised as JSON. opts: requestId (a fresh UUID),
   * deadlineMs (epoch ms; null: no Lambda-Runtime-Deadline-Ms header; default delivery + timeoutMs),
   * traceId (null: no Lambda-Runtime-Trace-Id header; default a fresh one), functionArn, timeoutMs.
   * Returns the request id.
   */
  invoke(event, opts = {}) {
    return this.invokeRaw(JSON.stringify(event === undefined ? {} : event), opts);
  }

  /** Queues an invocation whose body is `body` verbatim (string or Buffer: need not be JSON). */
  invokeRaw(body, opts = {}) {
    const requestId = opts.requestId ?? randomUUID();
    if (typeof requestId !== "string" || requestId === "" || /[\r\n/]/.test(requestId)) throw new Error("requestId: a non-empty string without '/' or line breaks");
    const known = (id) => this._queue.some((i) => i.requestId === id) || this._results.some((r) => r.requestId === id) || (this._current && this._current.requestId === id);
    if (known(requestId)) throw new Error(`requestId ${requestId} already used`);
    if (opts.deadlineMs != null && !Number.isFinite(Number(opts.deadlineMs))) throw new Error("deadlineMs: a number or null");
    const inv = {
      requestId,
      body: Buffer.isBuffer(body) ? body : Buffer.from(String(body), "utf8"),
      deadlineMs: opts.deadlineMs === null ? null : opts.deadlineMs === undefined ? undefined : Number(opts.deadlineMs),
      traceId: opts.traceId === null ? null : (opts.traceId ?? makeTraceId()),
      functionArn: opts.functionArn ?? this.functionArn,
      timeoutMs: opts.timeoutMs ?? this.timeoutMs,
      enqueuedAt: Date.now(),
      deliveredAt: null,
      deliveries: 0,
      answered: false,
    };
    this._queue.push(inv);
    this._dispatch();
    return requestId;
  }

  /** Invocations queued and not yet delivered. */
  queued() {
    return this._queue.length;
  }

  // ---- inspection -------------------------------------------------------------

  /**
   * Every answer recorded, in order: { requestId, kind: "response" | "error", status (what was answered),
   * text (the body as sent), body (parsed when it is JSON, else the text), json (parsed, or null), isJson,
   * errorType (for errors: the Lambda-Runtime-Function-Error-Type header, null when absent), contentType,
   * headers, deliveredAt, answeredAt, deadlineMs, traceId, functionArn, deliveries }.
   */
  results() {
    return this._results.map((r) => ({ ...r }));
  }

  /** POST /runtime/init/error calls accepted: { errorType (the header, or null), text, body, json, isJson, contentType, at }. */
  initErrors() {
    return this._initErrors.map((r) => ({ ...r }));
  }

  /** Every contract violation seen: { method, path, status, errorType, errorMessage, at }. */
  violations() {
    return this._violations.map((r) => ({ ...r }));
  }

  /** Every runtime API request: { method, path, headers, status }. */
  requests() {
    return this._requests.map((r) => ({ ...r }));
  }

  /** The runtime's state (Started, Ready, RuntimeResponseSentState, InitError) and counters. */
  status() {
    return {
      state: this._state,
      current: this._current ? this._current.requestId : null,
      queued: this._queue.length,
      polls: this._polls,
      heldPolls: this._pollers.length,
    };
  }

  snapshot() {
    return { results: this.results(), initErrors: this.initErrors(), violations: this.violations(), ...this.status() };
  }

  /** Resolves with results() once at least n are recorded; rejects after timeoutMs (a number or { timeoutMs }). */
  waitForResults(n, opts = 10_000) {
    const timeoutMs = typeof opts === "number" ? opts : (opts?.timeoutMs ?? 10_000);
    if (this._results.length >= n) return Promise.resolve(this.results());
    return new Promise((resolve, reject) => {
      const w = {
        n,
        resolve: (v) => {
          clearTimeout(w.timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(w.timer);
          reject(e);
        },
      };
      w.timer = setTimeout(() => {
        this._resultWaiters = this._resultWaiters.filter((x) => x !== w);
        reject(new Error(`lambda runtime stand-in: ${this._results.length} of ${n} results after ${timeoutMs} ms`));
      }, timeoutMs);
      this._resultWaiters.push(w);
    });
  }

  /** Resolves with the result for requestId once recorded (timeout: a number or { timeoutMs }). */
  async waitForResult(requestId, opts = 10_000) {
    const timeoutMs = typeof opts === "number" ? opts : (opts?.timeoutMs ?? 10_000);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this._results.find((x) => x.requestId === requestId);
      if (r) return { ...r };
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`lambda runtime stand-in: no result for ${requestId} after ${timeoutMs} ms`);
      await this.waitForResults(this._results.length + 1, left).catch(() => {});
    }
  }

  // ---- internals -----------------------------------------------------------------

  _record(result) {
    this._results.push(result);
    this.emit("result", { ...result });
    const n = this._results.length;
    const ready = this._resultWaiters.filter((w) => n >= w.n);
    this._resultWaiters = this._resultWaiters.filter((w) => n < w.n);
    for (const w of ready) w.resolve(this.results());
  }

  _violation(req, status, errorType, errorMessage) {
    this._violations.push({ method: req.method, path: req.url, status, errorType, errorMessage, at: Date.now() });
  }

  /** Hands the next queued invocation to a held poll when the runtime is waiting for one. */
  _dispatch() {
    if (this._state !== READY || this._current !== null) return;
    while (this._pollers.length > 0 && this._queue.length > 0) {
      const res = this._pollers.shift();
      if (res.destroyed || res.writableEnded) continue;
      this._current = this._queue.shift();
      this._deliver(res, this._current);
      return;
    }
  }

  _deliver(res, inv) {
    const now = Date.now();
    if (inv.deliveredAt === null) {
      inv.deliveredAt = now;
      if (inv.deadlineMs === undefined) inv.deadlineMs = now + inv.timeoutMs;
    }
    inv.deliveries++;
    const h = {
      "content-type": "application/json",
      "content-length": String(inv.body.length),
      [HEADERS.requestId]: inv.requestId,
      [HEADERS.functionArn]: inv.functionArn,
    };
    if (inv.deadlineMs !== null) h[HEADERS.deadline] = String(inv.deadlineMs);
    if (inv.traceId !== null) h[HEADERS.traceId] = inv.traceId;
    res.writeHead(200, h);
    res.end(inv.body);
    this.emit("delivered", inv.requestId);
  }

  _send(res, status, body, headers = {}) {
    if (res.destroyed || res.writableEnded) return;
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  _fail(req, res, e) {
    this._violation(req, e.status, e.errorType, e.message);
    this._send(res, e.status, { errorMessage: e.message, errorType: e.errorType });
  }

  async _onRequest(req, res) {
    const url = new URL(req.url, "http://stand-in");
    const p = url.pathname;
    try {
      if (p.startsWith("/_control/")) return await this._control(req, res, p.slice("/_control/".length), url);
      const entry = { method: req.method, path: req.url, headers: { ...req.headers }, status: null };
      this._requests.push(entry);
      res.on("finish", () => (entry.status = res.statusCode));
      await this._runtime(req, res, p);
    } catch (e) {
      if (e instanceof HttpError) return this._fail(req, res, e);
      this._send(res, 500, { errorMessage: String(e && e.message ? e.message : e), errorType: "InternalServerError" });
    }
  }

  async _runtime(req, res, p) {
    const prefix = `/${API_VERSION}/runtime/`;
    const route = p.startsWith(prefix) ? p.slice(prefix.length) : null;
    let m;
    if (route === "invocation/next") {
      if (req.method !== "GET") return this._methodNotAllowed(req, res, "GET");
      return this._next(req, res);
    }
    if (route !== null && (m = /^invocation\/([^/]+)\/(response|error)$/.exec(route))) {
      if (req.method !== "POST") return this._methodNotAllowed(req, res, "POST");
      return this._answer(req, res, decodeURIComponent(m[1]), m[2]);
    }
    if (route === "init/error") {
      if (req.method !== "POST") return this._methodNotAllowed(req, res, "POST");
      return this._initError(req, res);
    }
    this._violation(req, 404, null, "404 page not found");
    this._send(res, 404, "404 page not found\n");
  }

  _methodNotAllowed(req, res, allow) {
    this._violation(req, 405, null, "Method Not Allowed");
    this._send(res, 405, "", { allow });
  }

  _next(req, res) {
    this._polls++;
    if (this._state === INIT_ERROR) throw new HttpError(403, "InvalidStateTransition", transitionMessage(INIT_ERROR, READY));
    if (this._state === READY && this._current !== null && !this._current.answered) {
      // The emulator serves the current invocation again; a runtime doing this lost an answer.
      this._violation(req, 200, null, `next before answering ${this._current.requestId}: delivered again`);
      return this._deliver(res, this._current);
    }
    this._state = READY;
    this._current = null;
    this._pollers.push(res);
    res.on("close", () => {
      this._pollers = this._pollers.filter((x) => x !== res);
    });
    this._dispatch();
  }

  async _answer(req, res, requestId, kind) {
    const { buf, size } = await readBody(req, this.maxResponseBytes + 1);
    const target = kind === "response" ? TO_RESPONSE : TO_ERROR;
    const inv = this._current;
    if (inv === null || inv.requestId !== requestId) throw new HttpError(400, "InvalidRequestID", "Invalid request ID");
    if (this._state !== READY || inv.answered) throw new HttpError(403, "InvalidStateTransition", transitionMessage(this._state, target));
    inv.answered = true;
    this._state = SENT;
    const text = buf.toString("utf8");
    const parsed = tryJson(text);
    const base = {
      requestId,
      status: 202,
      text,
      body: parsed.ok ? parsed.value : text,
      json: parsed.value,
      isJson: parsed.ok,
      contentType: req.headers["content-type"] ?? null,
      headers: { ...req.headers },
      deliveredAt: inv.deliveredAt,
      answeredAt: Date.now(),
      deadlineMs: inv.deadlineMs,
      traceId: inv.traceId,
      functionArn: inv.functionArn,
      deliveries: inv.deliveries,
    };
    if (kind === "response" && size > this.maxResponseBytes) {
      // Lambda turns an oversized response into a function error and tells the runtime so.
      const msg = `Response payload size (${size} bytes) exceeded maximum allowed payload size (${this.maxResponseBytes} bytes).`;
      const json = { errorMessage: msg, errorType: "Function.ResponseSizeTooLarge" };
      this._record({ ...base, kind: "error", status: 413, text: JSON.stringify(json), body: json, json, isJson: true, errorType: json.errorType });
      throw new HttpError(413, "RequestEntityTooLarge", `Exceeded maximum allowed payload size (${this.maxResponseBytes} bytes).`);
    }
    this._record({ ...base, kind, errorType: kind === "error" ? (req.headers[HEADERS.errorType] ?? null) : null });
    this._send(res, 202, { status: "OK" });
  }

  async _initError(req, res) {
    const { buf } = await readBody(req, this.maxResponseBytes);
    if (this._state !== STARTED) throw new HttpError(403, "InvalidStateTransition", transitionMessage(this._state, INIT_ERROR));
    this._state = INIT_ERROR;
    const text = buf.toString("utf8");
    const parsed = tryJson(text);
    this._initErrors.push({ errorType: req.headers[HEADERS.errorType] ?? null, text, body: parsed.ok ? parsed.value : text, json: parsed.value, isJson: parsed.ok, contentType: req.headers["content-type"] ?? null, at: Date.now() });
    this.emit("init-error");
    this._send(res, 202, { status: "OK" });
  }

  // ---- control ------------------------------------------------------------------------

  async _control(req, res, name, url) {
    const { buf } = await readBody(req, 16 << 20);
    const ok = (v) => this._send(res, 200, v);
    const bad = (msg, status = 400) => this._send(res, status, { error: msg });
    let body = {};
    if (buf.length > 0) {
      const parsed = tryJson(buf.toString("utf8"));
      if (!parsed.ok || parsed.value === null || typeof parsed.value !== "object") return bad("the control body must be a JSON object");
      body = parsed.value;
    }
    const post = req.method === "POST";
    try {
      if (name === "invoke" && post) {
        const opts = {};
        for (const k of ["requestId", "deadlineMs", "traceId", "functionArn", "timeoutMs"]) if (k in body) opts[k] = body[k];
        if ("body" in body) {
          if (typeof body.body !== "string") return bad("body: a string, served verbatim");
          return ok({ requestId: this.invokeRaw(body.body, opts) });
        }
        return ok({ requestId: this.invoke(body.event, opts) });
      }
      if (name === "results" && req.method === "GET") return ok(this.snapshot());
      if (name === "requests" && req.method === "GET") return ok({ requests: this.requests() });
      if (name === "wait" && req.method === "GET") {
        const count = Number(url.searchParams.get("count") ?? "1");
        const timeoutMs = Number(url.searchParams.get("timeoutMs") ?? "10000");
        if (!Number.isInteger(count) || count < 0 || !Number.isFinite(timeoutMs)) return bad("count: an integer >= 0, timeoutMs: a number");
        try {
          await this.waitForResults(count, timeoutMs);
        } catch (e) {
          return bad(e.message, 408);
        }
        return ok(this.snapshot());
      }
      if (name === "reset" && post) {
        this.reset();
        return ok({});
      }
      if (name === "shutdown" && post) {
        res.on("finish", () => {
          this.close().then(() => this.emit("shutdown"));
        });
        return ok({});
      }
    } catch (e) {
      return bad(e.message);
    }
    return bad(`unknown control ${req.method} ${name}`, 404);
  }
}

/**
 * Starts the stand-in on host:port (127.0.0.1:0 by default). Options: see LambdaRuntimeStandIn, plus port
 * and host. Resolves to the stand-in: its `address` ("127.0.0.1:PORT") is what AWS_LAMBDA_RUNTIME_API holds.
 */
export async function startRuntime(opts = {}) {
  const rt = new LambdaRuntimeStandIn(opts);
  return rt.listen(opts.port ?? 0, opts.host ?? "127.0.0.1");
}

/**
 * Drives a stand-in running in another process over /_control, with the in-process method names, each
 * returning a promise. url: the stand-in's base URL.
 */
export function connectRuntime(url) {
  const base = url.replace(/\/$/, "");
  const call = async (name, body, query) => {
    const qs = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v != null).map(([k, v]) => [k, String(v)])).toString() : "";
    const r = await fetch(`${base}/_control/${name}${qs}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) throw new Error(`lambda runtime stand-in control ${name}: ${j.error || r.status}`);
    return j;
  };
  return {
    url: base,
    address: base.replace(/^http:\/\//, ""),
    invoke: (event, opts = {}) => call("invoke", { ...opts, event }).then((r) => r.requestId),
    invokeRaw: (body, opts = {}) => call("invoke", { ...opts, body: String(body) }).then((r) => r.requestId),
    snapshot: () => call("results"),
    results: () => call("results").then((r) => r.results),
    initErrors: () => call("results").then((r) => r.initErrors),
    violations: () => call("results").then((r) => r.violations),
    requests: () => call("requests").then((r) => r.requests),
    waitForResults: (count, opts = 10_000) => call("wait", undefined, { count, timeoutMs: typeof opts === "number" ? opts : (opts?.timeoutMs ?? 10_000) }).then((r) => r.results),
    reset: () => call("reset", {}),
    shutdown: () => call("shutdown", {}),
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

const USAGE = "usage: node tests/servers/lambda-runtime.mjs [--port N] [--host H] [--event TEXT]... [--function-arn ARN] [--timeout-ms N]\n";

async function main(argv) {
  const opts = { events: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") opts.port = Number(next());
    else if (a === "--host") opts.host = next();
    else if (a === "--event") opts.events.push(next());
    else if (a === "--function-arn") opts.functionArn = next();
    else if (a === "--timeout-ms") opts.timeoutMs = Number(next());
    else if (a === "--help" || a === "-h") {
      process.stdout.write(USAGE);
      return;
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  const rt = await startRuntime(opts);
  process.stdout.write(JSON.stringify({ url: rt.url, address: rt.address, port: rt.port }) + "\n");
  const stop = () => rt.close().then(() => process.exit(0));
  rt.on("shutdown", () => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`lambda runtime stand-in: ${e.message}\n`);
    process.exit(2);
  });
}
