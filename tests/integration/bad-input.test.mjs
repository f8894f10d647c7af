// Every bad input of the issue's "HTTP behaviour" section: its exact status,
// the JSON error body {"error","delivery"}, and the matching /metrics counter.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { SECRET, curl, deliver, example, explain, freshIds, signBody, startServer, tempDir, waitFor } from "./lib/harness.mjs";

const D = "gha_metrics_deliveries_total";
const MARKER = "payload-marker-3e9d0b"; // must never come back in an answer

/** A completed workflow_job example carrying MARKER, as a JSON string. Each call names a job
 * attempt of its own (the service records an attempt once), so every one accepted is a record. */
function jobPayload(extra = {}) {
  const ex = freshIds(example("workflow_job", (e) => e.action === "completed"));
  return JSON.stringify({ ...ex.payload, marker: MARKER, ...extra });
}

/** The answer is `status` with a short JSON error body naming the delivery (when one was sent). */
function assertError(res, status, delivery) {
  assert.equal(res.status, status, explain(res));
  assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/, explain(res));
  assert.equal(typeof res.json, "object", `a JSON body: ${explain(res)}`);
  assert.equal(typeof res.json.error, "string");
  assert.ok(res.json.error.length > 0 && res.json.error.length < 200, `a short error: ${res.json.error}`);
  const allowed = delivery ? ["delivery", "error"] : ["error"];
  assert.deepEqual(Object.keys(res.json).sort(), allowed, explain(res));
  if (delivery) assert.equal(res.json.delivery, delivery);
  assert.ok(!res.text.includes(MARKER), "the answer echoes the payload");
  assert.ok(!res.text.includes(SECRET), "the answer echoes the secret");
}

/** Runs fn() and returns its result with the /metrics changes it caused, read once processing
 * has caught up (records are written after the answer), so record counts are final. */
async function measured(srv, fn) {
  const before = await srv.waitIdle();
  const res = await fn();
  const after = await srv.waitIdle();
  res.delta = (name, labels) => after.get(name, labels) - before.get(name, labels);
  res.deltaSum = (name, filter) => after.sum(name, filter) - before.sum(name, filter);
  return res;
}

describe("bad deliveries: status, JSON error, counter", () => {
  let srv;
  let goodDelivery; // the one delivery of this block that is due a record
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv?.kill();
  });

  const signatureCases = [
    ["missing X-Hub-Signature-256", () => ({ signature: null })],
    ["X-Hub-Signature-256 from another secret", async (b) => ({ signature: await signBody("not-the-secret", b) })],
    ["X-Hub-Signature-256 of another body", async () => ({ signature: await signBody(SECRET, jobPayload({ x: 1 })) })],
    ["X-Hub-Signature-256 without the sha256= prefix", async (b) => ({ signature: (await signBody(SECRET, b)).slice(7) })],
    ["X-Hub-Signature-256 cut short by one hex digit", async (b) => ({ signature: (await signBody(SECRET, b)).slice(0, -1) })],
    ["X-Hub-Signature-256 with a non-hex digit", async (b) => ({ signature: (await signBody(SECRET, b)).slice(0, -1) + "g" })],
    ["empty X-Hub-Signature-256", () => ({ signature: "" })],
    ["a sha1= HMAC in X-Hub-Signature-256", (b) => ({ signature: `sha1=${createHmac("sha1", SECRET).update(b).digest("hex")}` })],
    [
      "only the legacy SHA-1 X-Hub-Signature (valid)",
      (b) => ({ signature: null, headers: { "X-Hub-Signature": `sha1=${createHmac("sha1", SECRET).update(b).digest("hex")}` } }),
    ],
    [
      "bad signature with an unsupported content type (signature is checked first)",
      () => ({ signature: "sha256=" + "0".repeat(64), contentType: "text/plain" }),
    ],
    ["bad signature with invalid JSON (nothing is parsed before the signature)", () => ({ signature: "sha256=" + "0".repeat(64), body: "{" })],
  ];
  for (const [name, make] of signatureCases) {
    test(`${name} → 401, counted as bad_signature`, async () => {
      const opts = await make(jobPayload());
      const body = opts.body ?? jobPayload();
      const res = await measured(srv, () =>
        deliver(srv.webhookUrl, { event: "workflow_job", payload: body, secret: SECRET, ...opts }));
      assertError(res, 401, res.delivery);
      assert.equal(res.delta(D, { event: "workflow_job", outcome: "bad_signature" }), 1);
      assert.equal(res.deltaSum(D), 1, "counted once");
      assert.equal(res.deltaSum("gha_metrics_records_written_total"), 0);
    });
  }

  test("bad signature on another event is counted under event=\"other\"", async () => {
    const res = await measured(srv, () =>
      deliver(srv.webhookUrl, { event: "push", payload: "{}", signature: "sha256=" + "1".repeat(64) }));
    assertError(res, 401, res.delivery);
    assert.equal(res.delta(D, { event: "other", outcome: "bad_signature" }), 1);
  });

  for (const contentType of ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonl", null]) {
    const label = contentType === null ? "no Content-Type" : `Content-Type ${contentType}`;
    test(`signed, ${label} → 415, counted as unsupported_media_type`, async () => {
      const res = await measured(srv, () =>
        deliver(srv.webhookUrl, { event: "workflow_job", payload: jobPayload(), secret: SECRET, contentType }));
      assertError(res, 415, res.delivery);
      assert.equal(res.delta(D, { event: "workflow_job", outcome: "unsupported_media_type" }), 1);
      assert.equal(res.deltaSum("gha_metrics_records_written_total"), 0);
    });
  }

  test("signed, Content-Type application/json; charset=utf-8 → accepted", async () => {
    const res = await measured(srv, () => deliver(srv.webhookUrl, {
      event: "workflow_job", payload: jobPayload(), secret: SECRET, contentType: "application/json; charset=utf-8",
    }));
    assert.equal(res.status, 202, explain(res));
    goodDelivery = res.delivery;
    assert.equal(res.delta("gha_metrics_records_written_total", { kind: "job" }), 1);
  });

  test("signed, no X-GitHub-Event → 400, counted under event=\"unknown\"", async () => {
    const res = await measured(srv, () =>
      deliver(srv.webhookUrl, { event: null, payload: jobPayload(), secret: SECRET }));
    assertError(res, 400, res.delivery);
    assert.equal(res.delta(D, { event: "unknown", outcome: "bad_request" }), 1);
  });

  test("signed, no X-GitHub-Delivery → 400 without a delivery in the body", async () => {
    const res = await measured(srv, () =>
      deliver(srv.webhookUrl, { event: "workflow_job", payload: jobPayload(), secret: SECRET, delivery: null }));
    assertError(res, 400, undefined);
    assert.equal(res.delta(D, { event: "workflow_job", outcome: "bad_request" }), 1);
  });

  const bodyCases = [
    ["invalid JSON", "workflow_job", `{"action": "completed", "marker": "${MARKER}", `],
    ["invalid JSON in a ping", "ping", `{"zen": "${MARKER}"`],
    ["an empty body", "workflow_run", ""],
    ["a JSON array", "workflow_job", `["${MARKER}"]`],
    ["a JSON string", "workflow_run", `"${MARKER}"`],
    ["an empty object", "workflow_job", "{}"],
    ["a workflow_run payload sent as workflow_job", "workflow_job",
      JSON.stringify({ ...example("workflow_run", (e) => e.action === "completed").payload, marker: MARKER })],
    ["a workflow_job without workflow_job", "workflow_job", jobPayload({ workflow_job: undefined })],
    ["duplicate keys", "workflow_job", jobPayload().replace(/^\{/, '{"action":"queued",')],
  ];
  for (const [name, event, body] of bodyCases) {
    test(`signed ${event} with ${name} → 400, counted as bad_request`, async () => {
      const res = await measured(srv, () => deliver(srv.webhookUrl, { event, payload: body, secret: SECRET }));
      assertError(res, 400, res.delivery);
      assert.equal(res.delta(D, { event, outcome: "bad_request" }), 1);
      assert.equal(res.deltaSum("gha_metrics_records_written_total"), 0);
    });
  }

  const formCases = [
    ["without a payload field", `other=${encodeURIComponent(jobPayload())}`],
    ["with a broken %-escape", `payload=${encodeURIComponent(jobPayload()).slice(0, 40)}%G1`],
    ["with a payload that is not JSON", `payload=${encodeURIComponent(`{"marker":"${MARKER}"`)}`],
  ];
  for (const [name, body] of formCases) {
    test(`signed form body ${name} → 400`, async () => {
      const res = await measured(srv, () =>
        deliver(srv.webhookUrl, {
          event: "workflow_job", payload: body, secret: SECRET, contentType: "application/x-www-form-urlencoded",
        }));
      assertError(res, 400, res.delivery);
      assert.equal(res.delta(D, { event: "workflow_job", outcome: "bad_request" }), 1);
    });
  }

  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    test(`${method} /webhook → 405 with Allow: POST, counted as method_not_allowed`, async () => {
      const res = await measured(srv, () =>
        method === "GET"
          ? curl(srv.webhookUrl)
          : deliver(srv.webhookUrl, { method, event: "workflow_job", payload: jobPayload(), secret: SECRET }));
      assertError(res, 405, res.delivery);
      assert.match(res.headers.get("allow") ?? "", /\bPOST\b/);
      assert.equal(res.deltaSum(D, { outcome: "method_not_allowed" }), 1);
      if (method !== "GET") assert.equal(res.delta(D, { event: "workflow_job", outcome: "method_not_allowed" }), 1);
    });
  }

  for (const [method, p] of [["GET", "/nope"], ["POST", "/webhook/extra"], ["POST", "/webhooks"], ["POST", "/"]]) {
    test(`${method} ${p} → 404 with a JSON body`, async () => {
      const res = method === "GET"
        ? await curl(srv.url + p)
        : await deliver(srv.url + p, { event: "workflow_job", payload: jobPayload(), secret: SECRET });
      assertError(res, 404, method === "GET" ? undefined : res.delivery);
    });
  }

  test("a malformed X-GitHub-Delivery is not echoed", async () => {
    const res = await deliver(srv.webhookUrl, {
      event: "workflow_job", payload: jobPayload(), secret: SECRET, delivery: `<script>${MARKER}`,
    });
    assertError(res, 400, undefined);
  });

  test("the server is still healthy and wrote no record for any bad input", async () => {
    const h = await srv.get("/healthz");
    assert.equal(h.status, 200, explain(h));
    // Only the charset=utf-8 delivery was good; nothing else reached the spool.
    const m = await srv.waitIdle();
    assert.equal(m.get("gha_metrics_spool_appended_total"), 1, m.text);
    assert.equal(m.get("gha_metrics_processed_total"), 1, m.text);
    assert.equal(m.sum("gha_metrics_records_written_total"), 1);
    assert.equal(m.sum("gha_metrics_duplicates_total"), 0);
    assert.deepEqual(srv.emfRecords().map((r) => r.DeliveryId), [goodDelivery]);
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});

describe("secret rotation: any configured secret may match", () => {
  let srv;
  const secrets = { literal: "old-secret-4c2a", env: "new-secret-from-env-77d1", file: "secret-from-file-0b3e" };
  before(async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "secret"), secrets.file, { mode: 0o600 });
    srv = await startServer({
      dir,
      config: { webhook: { secrets: [secrets.literal, "env:GM_IT_NEW_SECRET", `file:${path.join(dir, "secret")}`] } },
      env: { GM_IT_NEW_SECRET: secrets.env },
    });
  });
  after(async () => {
    await srv?.kill();
  });

  for (const [kind, secret] of Object.entries(secrets)) {
    test(`a delivery signed with the ${kind} secret → 202 and a record`, async () => {
      const res = await measured(srv, () =>
        deliver(srv.webhookUrl, { event: "workflow_job", payload: jobPayload(), secret }));
      assert.equal(res.status, 202, explain(res));
      assert.equal(res.delta("gha_metrics_records_written_total", { kind: "job" }), 1);
      assert.equal(res.deltaSum("gha_metrics_duplicates_total"), 0);
      assert.equal(srv.emfRecords().filter((r) => r.DeliveryId === res.delivery).length, 1, "its record");
    });
  }

  test("a delivery signed with none of them → 401", async () => {
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: jobPayload(), secret: "retired-secret" });
    assertError(res, 401, res.delivery);
  });

  test("no secret appears in the log", () => {
    assert.ok(srv.logs.some((l) => l.msg === "delivery"), "deliveries were logged");
    for (const s of Object.values(secrets)) assert.ok(!srv.stderr.includes(s), `secret ${s} in the log`);
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});

describe("webhook.max_body: 16384 bytes", () => {
  const MAX = 16384;
  let srv;
  const accepted = []; // delivery ids answered 202
  before(async () => {
    srv = await startServer({ config: { webhook: { max_body: "16384" } } });
  });
  after(async () => {
    await srv?.kill();
  });

  /** A signed workflow_job body of exactly n bytes (JSON padded with trailing spaces). */
  function bodyOf(n) {
    const json = jobPayload();
    assert.ok(json.length <= n, `the example (${json.length} bytes) fits in ${n}`);
    return json + " ".repeat(n - json.length);
  }

  test("a body of exactly max_body bytes → 202", async () => {
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: bodyOf(MAX), secret: SECRET });
    assert.equal(res.status, 202, explain(res));
    accepted.push(res.delivery);
  });

  test("one byte more, validly signed → 413, counted as too_large", async () => {
    const res = await measured(srv, () =>
      deliver(srv.webhookUrl, { event: "workflow_job", payload: bodyOf(MAX + 1), secret: SECRET }));
    assertError(res, 413, res.delivery);
    assert.equal(res.delta(D, { event: "workflow_job", outcome: "too_large" }), 1);
  });

  test("8 MiB, validly signed → 413 (size is checked before the signature)", async () => {
    const body = bodyOf(8 * 1024 * 1024);
    const res = await measured(srv, () => deliver(srv.webhookUrl, { event: "workflow_job", payload: body, secret: SECRET }));
    assertError(res, 413, res.delivery);
    assert.equal(res.deltaSum(D, { outcome: "too_large" }), 1);
  });

  test("oversized with a bad signature → 413 all the same", async () => {
    const res = await deliver(srv.webhookUrl, {
      event: "workflow_job", payload: bodyOf(MAX * 2), signature: "sha256=" + "0".repeat(64),
    });
    assertError(res, 413, res.delivery);
  });

  test("oversized with Expect: 100-continue → 413 instead of 100 Continue", async () => {
    const res = await deliver(srv.webhookUrl, {
      event: "workflow_job", payload: bodyOf(4 * MAX), secret: SECRET, headers: { Expect: "100-continue" },
    });
    assertError(res, 413, res.delivery);
  });

  test("oversized chunked body (no Content-Length) → 413", async () => {
    const res = await measured(srv, () =>
      deliver(srv.webhookUrl, {
        event: "workflow_job", payload: bodyOf(4 * MAX), secret: SECRET, headers: { "Transfer-Encoding": "chunked" },
      }));
    assertError(res, 413, res.delivery);
    assert.equal(res.deltaSum(D, { outcome: "too_large" }), 1);
  });

  test("Content-Length: 100 MiB is answered 413 before the body is sent", async () => {
    // curl uploads from a pipe: the test writes 1 KiB of the announced 100 MiB and
    // holds the rest back until the server has counted the 413, so the answer can
    // only have come from the headers.
    const before = await srv.metrics();
    const delivery = randomUUID();
    const out = path.join(tempDir(), "body");
    const child = spawn("curl", [
      "-sS", "-o", out, "-w", "%{http_code} %{size_upload}", "--max-time", "20", "-X", "POST", "-T", "-",
      "-H", "Content-Length: 104857600", "-H", "Transfer-Encoding:", "-H", "Expect:",
      "-H", "Content-Type: application/json", "-H", "X-GitHub-Event: workflow_job",
      "-H", `X-GitHub-Delivery: ${delivery}`, "-H", `X-Hub-Signature-256: sha256=${"0".repeat(64)}`,
      srv.webhookUrl,
    ], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => {}); // curl may close its end first
    const closed = new Promise((resolve) => child.on("close", resolve));
    child.stdin.write("{".padEnd(1024, " "));
    try {
      await waitFor(async () => (await srv.metrics()).sum(D, { outcome: "too_large" }) > before.sum(D, { outcome: "too_large" }),
        { what: "the 413 to be counted while the body is still being sent" });
    } finally {
      child.stdin.end();
    }
    const code = await closed;
    const [status, uploaded] = stdout.trim().split(" ");
    assert.equal(status, "413", `curl exit ${code}, ${stderr}`);
    assert.ok(Number(uploaded) <= 1024, `curl sent ${uploaded} bytes`);
    assert.equal(JSON.parse(readFileSync(out, "utf8")).delivery, delivery);
  });

  test("the server stays healthy after the oversized bodies", async () => {
    const h = await srv.get("/healthz");
    assert.equal(h.status, 200, explain(h));
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: jobPayload(), secret: SECRET });
    assert.equal(res.status, 202, explain(res));
    accepted.push(res.delivery);
  });

  test("only the deliveries answered 202 were stored: one record each, none for a 413", async () => {
    const m = await srv.waitIdle();
    assert.equal(m.get("gha_metrics_spool_appended_total"), accepted.length, m.text);
    assert.equal(m.get("gha_metrics_records_written_total", { kind: "job" }), accepted.length, m.text);
    assert.deepEqual(srv.emfRecords().map((r) => r.DeliveryId), accepted);
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});
