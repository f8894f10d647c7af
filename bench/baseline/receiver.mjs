// The baseline of bench/ingest: a GitHub webhook receiver built the way a team
// would build it in Node.js with @octokit/webhooks, on node:http and nothing
// else. Per delivery: read the body, `webhooks.verify()` the
// X-Hub-Signature-256, `JSON.parse` it, append it as one JSON line to a file
// and fdatasync that file, then answer 202. One process, one event loop; the
// appends and syncs run on libuv's thread pool, one sync per delivery (no
// group commit). Like gha-metrics it answers only after the delivery is on
// disk; unlike gha-metrics it does not de-duplicate.
//
// To be fair to it, the stored line embeds the raw body as received (already
// proven to be JSON by the parse) instead of re-serialising the parsed object.
//
//   node bench/baseline/receiver.mjs
//
// Environment:
//   BENCH_LISTEN         HOST:PORT (default 127.0.0.1:8090)
//   BENCH_SECRET_FILE    the webhook secret (whole file, less one trailing newline)
//   BENCH_OUT            the file deliveries are appended to
//   BENCH_WEBHOOKS_FROM  a node_modules folder to take @octokit/webhooks from
//                        (default: the usual resolution, i.e. the repository's node_modules)
//
// GET /healthz answers 200; GET /metrics answers the counters as JSON, which
// bench/ingest compares with what the load generator saw.

import http from "node:http";
import { open, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

async function loadWebhooks() {
  const from = process.env.BENCH_WEBHOOKS_FROM;
  if (!from) return import("@octokit/webhooks");
  const require = createRequire(path.join(path.resolve(from), "noop.js"));
  return import(pathToFileURL(require.resolve("@octokit/webhooks")).href);
}

const { Webhooks } = await loadWebhooks();
const secret = (await readFile(process.env.BENCH_SECRET_FILE, "utf8")).replace(/\n$/, "");
const webhooks = new Webhooks({ secret });
const out = await open(process.env.BENCH_OUT ?? "deliveries.jsonl", "a", 0o640);

const counters = { accepted: 0, bad_signature: 0, bad_request: 0, not_found: 0, error: 0 };

function answer(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

async function receive(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");

  const signature = req.headers["x-hub-signature-256"];
  const id = req.headers["x-github-delivery"];
  const name = req.headers["x-github-event"];
  if (typeof signature !== "string" || !(await webhooks.verify(body, signature))) {
    counters.bad_signature++;
    return answer(res, 401, { error: "signature does not match" });
  }
  if (typeof id !== "string" || typeof name !== "string") {
    counters.bad_request++;
    return answer(res, 400, { error: "missing X-GitHub-Delivery or X-GitHub-Event" });
  }
  let payload;
  try {
    payload = JSON.parse(body);
  } catch {
    counters.bad_request++;
    return answer(res, 400, { error: "body is not JSON" });
  }
  const line = `{"id":${JSON.stringify(id)},"name":${JSON.stringify(name)},"action":${JSON.stringify(
    payload.action ?? null,
  )},"received_at":${Date.now()},"payload":${body}}\n`;
  await out.write(line); // O_APPEND: one write(2), appended atomically
  await out.datasync();
  counters.accepted++;
  answer(res, 202, { status: "accepted" });
}

const server = http.createServer((req, res) => {
  const url = req.url ?? "/";
  if (req.method === "POST" && url.split("?")[0] === "/webhook") {
    receive(req, res).catch((err) => {
      counters.error++;
      console.error(err);
      if (!res.headersSent) answer(res, 500, { error: "internal error" });
      else res.destroy();
    });
    return;
  }
  if (req.method === "GET" && url === "/healthz") return answer(res, 200, { status: "ok" });
  if (req.method === "GET" && url === "/metrics") return answer(res, 200, counters);
  counters.not_found++;
  answer(res, 404, { error: "not found" });
});

const listen = process.env.BENCH_LISTEN ?? "127.0.0.1:8090";
const colon = listen.lastIndexOf(":");
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon));

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    out.close().finally(() => process.exit(0));
  });
}
