#!/usr/bin/env node
// A test stand-in for DynamoDB: dynalite (an in-memory DynamoDB, npm
// "dynalite") behind a front proxy that checks each request's SigV4
// signature the way DynamoDB does, with the verifier of ./aws.mjs.
//
//   POST /           DynamoDB's JSON protocol (X-Amz-Target DynamoDB_20120810.*,
//                    SigV4 service "dynamodb"): a request AWS would refuse for its
//                    signature or credentials gets DynamoDB's answer (HTTP 400,
//                    {"__type":"com.amazon.coral.service#InvalidSignatureException",
//                    "message":...}); every other request goes to dynalite, which
//                    validates it and answers as DynamoDB would.
//   GET  /           "healthy: ..." (DynamoDB answers health checks unsigned)
//   /_control/...    fault injection and counters over HTTP (no signature; the
//                    real service has no such path)
//
// Why 400 for authentication errors: DynamoDB, unlike the query-protocol
// services, answers InvalidSignatureException, UnrecognizedClientException,
// MissingAuthenticationTokenException, IncompleteSignatureException and
// ExpiredTokenException with "400 Bad Request" (its error-handling guide lists
// them under 400; dynalite, recorded against the live service, does the same).
//
// In-process:     const ddb = await startDynamo({ table: "ledger" }); ... await ddb.close();
// Out of process: node tests/servers/dynamodb.mjs --port 0 --table NAME [--table NAME2] [--region R]
//                 [--credential AKID:SECRET[:TOKEN]]...
//                 creates the table(s) (partition key pk of type S, PAY_PER_REQUEST), prints one JSON
//                 line {"url","table","tables","port","region"} on stdout, and runs until SIGTERM/SIGINT.
//
// What dynalite does not do (so neither does this stand-in): TTL (UpdateTimeToLive is unknown to it and
// expired items are never deleted), throttling and capacity limits, and UnprocessedKeys on its own; faults
// ("throttle", "fail5xx", "unprocessed", "drop", "lost") stand in for the last two and for a network that
// loses an answer.

import http from "node:http";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

import dynalite from "dynalite";

import { DEFAULT_CREDENTIAL, DEFAULT_REGION, MAX_CLOCK_SKEW_MS, verifySigV4 } from "./aws.mjs";

export { DEFAULT_CREDENTIAL, DEFAULT_REGION };

export const DYNAMODB = Object.freeze({
  service: "dynamodb",
  targetPrefix: "DynamoDB_20120810.",
  contentType: "application/x-amz-json-1.0",
  maxBodyBytes: 16 * 1024 * 1024, // dynalite's limit too
});

/** verifySigV4's failure kinds → DynamoDB's error codes (all "com.amazon.coral.service#..."). */
const AUTH_CODES = Object.freeze({
  missingAuth: "MissingAuthenticationTokenException",
  incomplete: "IncompleteSignatureException",
  signature: "InvalidSignatureException",
  unknownKey: "UnrecognizedClientException",
  badToken: "UnrecognizedClientException",
  expiredToken: "ExpiredTokenException",
});

const DDB_ERROR = "com.amazonaws.dynamodb.v20120810#";
const CORAL_ERROR = "com.amazon.coral.service#";

const FAULTS = Object.freeze({
  // The on-demand answer to a burst beyond the table's capacity.
  throttle: { status: 400, type: DDB_ERROR + "ProvisionedThroughputExceededException", message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API." },
  fail5xx: { status: 500, type: DDB_ERROR + "InternalServerError", message: "Internal server error" },
  unprocessed: null, // BatchGetItem: only the first `keep` (a fraction, default 0.5) of each table's keys is read, the rest comes back in UnprocessedKeys
  drop: null, // the connection is closed without an answer, the request not carried out
  lost: null, // the request is carried out, then the connection is closed without its answer
});

function requestId() {
  return randomBytes(39).toString("base64").toUpperCase().replace(/[+/]/g, "0").slice(0, 52);
}

function readBody(req, cap) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size <= cap) chunks.push(c);
    });
    req.on("end", () => resolve({ buf: size > cap ? null : Buffer.concat(chunks), size }));
    req.on("error", reject);
  });
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const h = { "content-type": DYNAMODB.contentType, "x-amzn-requestid": requestId(), "content-length": Buffer.byteLength(text), ...headers };
  if (typeof zlib.crc32 === "function") h["x-amz-crc32"] = String(zlib.crc32(text));
  res.writeHead(status, h);
  res.end(text);
}

/** An unsigned request to dynalite itself (it checks only that an Authorization header is there). */
function rawCall(port, operation, payload) {
  const body = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1", port, method: "POST", path: "/",
      headers: {
        "content-type": DYNAMODB.contentType,
        "x-amz-target": DYNAMODB.targetPrefix + operation,
        "x-amz-date": "20250101T000000Z",
        authorization: "AWS4-HMAC-SHA256 Credential=stand-in/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        "content-length": Buffer.byteLength(body),
      },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        if (res.statusCode !== 200) reject(new Error(`dynalite ${operation}: HTTP ${res.statusCode} ${text}`));
        else resolve(json);
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

export class DynamoStandIn {
  constructor({ region = DEFAULT_REGION, credentials, maxSkewMs = MAX_CLOCK_SKEW_MS } = {}) {
    this.region = region;
    this.maxSkewMs = maxSkewMs;
    this.url = null;
    this.port = null;
    this.tables = [];
    this._credentials = new Map();
    for (const c of credentials && credentials.length ? credentials : [DEFAULT_CREDENTIAL]) this._credentials.set(c.accessKeyId, { ...c });
    this._faults = [];
    this._counts = {};
    this._requests = [];
    this._dynalite = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    this._dynalitePort = null;
    this._agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this._server = http.createServer((req, res) => {
      this._onRequest(req, res).catch((e) => {
        if (!res.headersSent) send(res, 500, { __type: DDB_ERROR + "InternalServerError", message: `stand-in: ${e.message}` });
        else res.destroy();
      });
    });
    this._server.keepAliveTimeout = 5_000;
  }

  async listen(port = 0, host = "127.0.0.1") {
    await new Promise((resolve, reject) => {
      this._dynalite.once("error", reject);
      this._dynalite.listen(0, "127.0.0.1", () => resolve());
    });
    this._dynalitePort = this._dynalite.address().port;
    await new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(port, host, () => resolve());
    });
    this.port = this._server.address().port;
    this.url = `http://${host}:${this.port}`;
    return this;
  }

  async close() {
    await new Promise((resolve) => {
      this._server.close(() => resolve());
      this._server.closeAllConnections();
    });
    this._agent.destroy();
    await new Promise((resolve) => {
      this._dynalite.close(() => resolve());
      this._dynalite.closeAllConnections();
    });
  }

  /** Creates a table keyed by pk (S), on demand, and waits until it is ACTIVE. */
  async createTable(name) {
    await rawCall(this._dynalitePort, "CreateTable", {
      TableName: name,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    });
    for (let i = 0; i < 500; i++) {
      const d = await rawCall(this._dynalitePort, "DescribeTable", { TableName: name });
      if (d.Table.TableStatus === "ACTIVE") {
        this.tables.push(name);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`table ${name} did not become ACTIVE`);
  }

  /** An item as stored (or null), read straight from dynalite. */
  async getItem(table, key) {
    const r = await rawCall(this._dynalitePort, "GetItem", { TableName: table, Key: { pk: { S: key } }, ConsistentRead: true });
    return r.Item ?? null;
  }

  /** Puts an item as is (no condition), straight into dynalite: for setting up a test. */
  async putItem(table, item) {
    await rawCall(this._dynalitePort, "PutItem", { TableName: table, Item: item });
  }

  /**
   * The next n signed requests that match get a fault instead of dynalite's answer.
   * kind: throttle | fail5xx | unprocessed | drop | lost; opts: { operation ("PutItem"), match (a substring of the body),
   * keep (unprocessed: the fraction of keys read, 0..1, default 0.5) }.
   */
  fault(kind, n = 1, { operation, match, keep = 0.5 } = {}) {
    if (!(kind in FAULTS)) throw new Error(`unknown fault ${kind}`);
    if (!(keep >= 0 && keep <= 1)) throw new Error("keep must be between 0 and 1");
    if (n > 0) this._faults.push({ kind, remaining: n, operation, match, keep });
  }

  /** Drops the pending faults: all, or those set with this match. */
  clearFaults(match) {
    this._faults = match ? this._faults.filter((f) => f.match !== match) : [];
  }

  /** Requests seen per operation, plus "rejected" (refused for authentication) and "faults" (answered by a fault). */
  counts() {
    return { ...this._counts };
  }

  /** The last requests: { operation, status, code, fault }. */
  requests() {
    return this._requests.slice();
  }

  _count(name) {
    this._counts[name] = (this._counts[name] || 0) + 1;
  }

  _record(rec) {
    this._requests.push(rec);
    if (this._requests.length > 10_000) this._requests.shift();
  }

  _takeFault(operation, text) {
    const f = this._faults.find((x) => x.remaining > 0 && (!x.operation || x.operation === operation) && (!x.match || text.includes(x.match)));
    if (!f) return null;
    f.remaining--;
    this._faults = this._faults.filter((x) => x.remaining > 0);
    return f;
  }

  async _onRequest(req, res) {
    const url = req.url || "/";
    if (url.startsWith("/_control/")) return this._control(req, res, url);
    const body = await readBody(req, DYNAMODB.maxBodyBytes);
    if (req.method === "GET" && url === "/") return this._forward(req, res, Buffer.alloc(0));
    if (body.buf === null) {
      res.writeHead(413, { "content-length": 0 });
      return res.end();
    }
    const target = String(req.headers["x-amz-target"] || "");
    const operation = target.startsWith(DYNAMODB.targetPrefix) ? target.slice(DYNAMODB.targetPrefix.length) : target;
    this._count(operation || "(none)");

    const v = verifySigV4(
      { method: req.method, url, rawHeaders: req.rawHeaders, body: body.buf },
      { region: this.region, service: DYNAMODB.service, lookup: (k) => this._credentials.get(k), maxSkewMs: this.maxSkewMs },
    );
    if (!v.ok) {
      const code = AUTH_CODES[v.kind] || "InvalidSignatureException";
      this._count("rejected");
      this._record({ operation, status: 400, code, fault: null });
      return send(res, 400, { __type: CORAL_ERROR + code, message: v.message });
    }

    const text = body.buf.toString("utf8");
    const fault = this._takeFault(operation, text);
    if (fault) {
      this._count("faults");
      this._record({ operation, status: null, code: null, fault: fault.kind });
      if (fault.kind === "drop") return req.socket.destroy();
      if (fault.kind === "lost") return this._forward(req, res, body.buf, { lose: true });
      if (fault.kind === "unprocessed" && operation === "BatchGetItem") return this._unprocessed(req, res, text, fault.keep);
      const f = FAULTS[fault.kind];
      if (f) return send(res, f.status, { __type: f.type, message: f.message });
    }
    return this._forward(req, res, body.buf);
  }

  /** Sends the request on to dynalite and its answer back. */
  _forward(req, res, buf, { rewrite, operation, lose = false } = {}) {
    return new Promise((resolve, reject) => {
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (!["host", "content-length", "expect", "connection", "transfer-encoding"].includes(k)) headers[k] = v;
      }
      headers["content-length"] = buf.length;
      const up = http.request({ host: "127.0.0.1", port: this._dynalitePort, method: req.method, path: req.url, headers, agent: this._agent }, (ur) => {
        const chunks = [];
        ur.on("data", (c) => chunks.push(c));
        ur.on("end", () => {
          let out = Buffer.concat(chunks).toString("utf8");
          if (rewrite && ur.statusCode === 200) out = JSON.stringify(rewrite(JSON.parse(out)));
          let code = null;
          if (ur.statusCode !== 200) {
            try { code = String(JSON.parse(out).__type || "").split("#").pop() || null; } catch { /* not JSON */ }
          }
          this._record({ operation: operation ?? String(req.headers["x-amz-target"] || "").split(".").pop(), status: ur.statusCode, code, fault: null });
          if (lose) {
            req.socket.destroy();
            return resolve();
          }
          const h = {};
          for (const k of ["content-type", "x-amzn-requestid"]) if (ur.headers[k]) h[k] = ur.headers[k];
          if (ur.statusCode === 200 || ur.headers["content-type"]) send(res, ur.statusCode, out, h);
          else {
            res.writeHead(ur.statusCode, { ...h, "content-length": Buffer.byteLength(out) });
            res.end(out);
          }
          resolve();
        });
        ur.on("error", reject);
      });
      up.on("error", reject);
      up.end(buf);
    });
  }

  /** BatchGetItem that reads only the first `keep` of each table's keys and hands back the rest, as DynamoDB does
   * when a request exceeds what it can read at once. */
  _unprocessed(req, res, text, keepFraction) {
    let payload;
    try { payload = JSON.parse(text); } catch { return this._forward(req, res, Buffer.from(text)); }
    const items = payload && payload.RequestItems;
    if (!items || typeof items !== "object") return this._forward(req, res, Buffer.from(text));
    const unprocessed = {};
    const reduced = {};
    for (const [table, spec] of Object.entries(items)) {
      const keys = Array.isArray(spec.Keys) ? spec.Keys : [];
      const keep = Math.ceil(keys.length * keepFraction);
      if (keep > 0) reduced[table] = { ...spec, Keys: keys.slice(0, keep) };
      if (keys.length > keep) unprocessed[table] = { ...spec, Keys: keys.slice(keep) };
    }
    const rewrite = (r) => {
      r.UnprocessedKeys = { ...(r.UnprocessedKeys || {}), ...unprocessed };
      return r;
    };
    if (Object.keys(reduced).length === 0) {
      this._record({ operation: "BatchGetItem", status: 200, code: null, fault: "unprocessed" });
      return send(res, 200, { Responses: {}, UnprocessedKeys: unprocessed });
    }
    return this._forward(req, res, Buffer.from(JSON.stringify({ ...payload, RequestItems: reduced })), { rewrite, operation: "BatchGetItem" });
  }

  async _control(req, res, url) {
    const name = url.slice("/_control/".length).split("?")[0];
    const body = await readBody(req, 1 << 20);
    let p = {};
    try { p = body.buf && body.buf.length ? JSON.parse(body.buf.toString("utf8")) : {}; } catch { /* empty */ }
    const reply = (status, obj) => send(res, status, obj, { "content-type": "application/json" });
    try {
      switch (name) {
        case "fault":
          this.fault(p.kind, p.n ?? 1, { operation: p.operation || undefined, match: p.match || undefined, keep: p.keep ?? 0.5 });
          return reply(200, { ok: true });
        case "clear-faults":
          this.clearFaults(p.match || undefined);
          return reply(200, { ok: true });
        case "counts":
          return reply(200, this.counts());
        case "requests":
          return reply(200, this.requests());
        case "create-table":
          await this.createTable(p.table);
          return reply(200, { ok: true });
        case "item":
          return reply(200, { item: await this.getItem(p.table, p.key) });
        case "put-item":
          await this.putItem(p.table, p.item);
          return reply(200, { ok: true });
        default:
          return reply(404, { error: `no control ${name}` });
      }
    } catch (e) {
      return reply(400, { error: e.message });
    }
  }
}

/**
 * Starts the stand-in. Options: table (a name) or tables ([names]) to create, region ("eu-west-1"),
 * credentials ([{ accessKeyId, secretAccessKey, sessionToken? }], default [DEFAULT_CREDENTIAL]), port (0),
 * host ("127.0.0.1"). Resolves to { url, port, region, table, tables, close(), fault(), clearFaults(), counts(),
 * requests(), createTable(), getItem(), putItem() }.
 */
export async function startDynamo(opts = {}) {
  const ddb = new DynamoStandIn(opts);
  await ddb.listen(opts.port ?? 0, opts.host ?? "127.0.0.1");
  const tables = [...(opts.tables || []), ...(opts.table ? [opts.table] : [])];
  try {
    for (const t of tables) await ddb.createTable(t);
  } catch (e) {
    await ddb.close();
    throw e;
  }
  ddb.table = tables[0] ?? null;
  return ddb;
}

async function main(argv) {
  const opts = { tables: [], credentials: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") opts.port = Number(next());
    else if (a === "--host") opts.host = next();
    else if (a === "--region") opts.region = next();
    else if (a === "--table") opts.tables.push(next());
    else if (a === "--credential") {
      const [accessKeyId, secretAccessKey, ...rest] = next().split(":");
      opts.credentials.push({ accessKeyId, secretAccessKey, sessionToken: rest.length ? rest.join(":") : undefined });
    } else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node tests/servers/dynamodb.mjs [--port N] [--host H] [--region R] --table NAME... [--credential AKID:SECRET[:TOKEN]]...\n");
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  const ddb = await startDynamo(opts);
  process.stdout.write(JSON.stringify({ url: ddb.url, table: ddb.table, tables: ddb.tables, port: ddb.port, region: ddb.region }) + "\n");
  const stop = () => ddb.close().then(() => process.exit(0), () => process.exit(1));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`dynamodb stand-in: ${e.message}\n`);
    process.exit(2);
  });
}
