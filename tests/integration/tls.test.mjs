// HTTPS listeners: HTTP/1.1 over TLS 1.2+, HTTP/2 by ALPN only with
// server.http2: true, plain and TLS listeners side by side, no TLS 1.1.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";

import { SECRET, curl, deliver, example, explain, freshIds, startServer, tempDir, waitFor } from "./lib/harness.mjs";

// The service records a job attempt once: every delivery below that is due a
// record carries a job attempt of its own (freshIds), so each one accepted is
// one more record, and one accepted by mistake could not hide as a duplicate.
const COMPLETED_JOB = example("workflow_job", (e) => e.action === "completed").payload;
const job = () => freshIds(COMPLETED_JOB);

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI: { certificate, key }. */
function makeCertificate(dir) {
  const certificate = path.join(dir, "tls.crt");
  const key = path.join(dir, "tls.key");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { certificate, key };
}

// A client that can speak TLS 1.0/1.1 at all (OpenSSL 3's default security level refuses them by itself).
const OLD_TLS = ["--tlsv1.0", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0"];

/** Starts `openssl s_server` accepting TLS 1.1 on a free port: the control for the TLS 1.1 test. */
async function startOldTlsServer(cert) {
  const child = spawn("openssl", [
    "s_server", "-accept", "127.0.0.1:0", "-cert", cert.certificate, "-key", cert.key, "-www",
    "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const port = await waitFor(() => out.match(/ACCEPT\s+\S*?:(\d+)/)?.[1], { what: "openssl s_server to listen" });
  return { url: `https://127.0.0.1:${port}/`, stop: () => child.kill("SIGTERM") };
}

describe("a plain and an HTTPS listener side by side (server.http2 off, the default)", () => {
  let srv;
  let cert;
  let https;
  let plain;

  before(async () => {
    const dir = tempDir();
    cert = makeCertificate(dir);
    srv = await startServer({
      dir,
      config: { server: { listen: [{ address: "127.0.0.1:0" }, { address: "127.0.0.1:0", tls: cert }] } },
    });
    https = srv.listeners.find((l) => l.tls);
    plain = srv.listeners.find((l) => !l.tls);
  });
  after(async () => {
    await srv?.kill();
  });

  test("both listeners are logged, the TLS one with tls: true, on different ports", () => {
    assert.ok(https, "a listening line with tls: true");
    assert.ok(plain, "a listening line with tls: false");
    assert.notEqual(https.port, plain.port);
  });

  test("HTTPS, HTTP/1.1: a signed delivery → 202 over HTTP/1.1", async () => {
    const res = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: SECRET, args: ["--http1.1"] });
    assert.equal(res.status, 202, explain(res));
    assert.equal(res.httpVersion, "1.1");
    assert.deepEqual(res.json, { status: "accepted" });
  });

  test("HTTPS: curl --http2 still negotiates HTTP/1.1 while http2 is off", async () => {
    const res = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: SECRET, args: ["--http2"] });
    assert.equal(res.status, 202, explain(res));
    assert.equal(res.httpVersion, "1.1", explain(res));
  });

  test("plain HTTP listener in the same process: a signed delivery → 202", async () => {
    const res = await deliver(plain.url + "/webhook", { event: "workflow_job", payload: job(), secret: SECRET });
    assert.equal(res.status, 202, explain(res));
    assert.equal(res.httpVersion, "1.1");
  });

  test("plain HTTP never speaks HTTP/2 (h2c upgrade, prior knowledge)", async () => {
    const upgrade = await curl(plain.url + "/healthz", { args: ["--http2"] });
    assert.equal(upgrade.status, 200, explain(upgrade));
    assert.equal(upgrade.httpVersion, "1.1", `h2c upgrade taken: ${explain(upgrade)}`);
    const prior = await curl(plain.url + "/healthz", { args: ["--http2-prior-knowledge"], timeoutMs: 5_000 });
    assert.ok(!(prior.exitCode === 0 && prior.httpVersion === "2"), `HTTP/2 prior knowledge accepted: ${explain(prior)}`);
  });

  test("HTTPS: a bad signature → 401 with a JSON body", async () => {
    const res = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: "wrong" });
    assert.equal(res.status, 401, explain(res));
    assert.equal(typeof res.json?.error, "string");
    assert.equal(res.json.delivery, res.delivery);
  });

  test("TLS 1.2 and TLS 1.3 are accepted", async () => {
    const v12 = await curl(https.url + "/healthz", { insecure: true, args: ["--tlsv1.2", "--tls-max", "1.2"] });
    assert.equal(v12.status, 200, explain(v12));
    const v13 = await curl(https.url + "/healthz", { insecure: true, args: ["--tlsv1.3"] });
    assert.equal(v13.status, 200, explain(v13));
  });

  test("TLS 1.1 is refused (control: the same client speaks TLS 1.1 to openssl s_server)", async (t) => {
    const control = await startOldTlsServer(cert);
    try {
      const ok = await curl(control.url, { insecure: true, args: OLD_TLS });
      if (ok.status !== 200) t.diagnostic(`control failed, so this curl cannot speak TLS 1.1: ${explain(ok)}`);
    } finally {
      control.stop();
    }
    const res = await curl(https.url + "/healthz", { insecure: true, args: OLD_TLS });
    assert.notEqual(res.exitCode, 0, `TLS 1.1 handshake succeeded: ${explain(res)}`);
    assert.equal(res.status, 0);
  });

  test("plain HTTP on the TLS port is not served", async () => {
    const res = await curl(`http://127.0.0.1:${https.port}/healthz`, { timeoutMs: 5_000 });
    assert.notEqual(res.status, 200, explain(res));
  });

  test("records arrived from both listeners", async () => {
    await srv.waitForEmf(3); // HTTPS/1.1, HTTPS with --http2 (1.1), plain
    const m = await srv.waitIdle();
    assert.equal(m.sum("gha_metrics_duplicates_total"), 0, m.text);
    const records = srv.emfRecords();
    assert.equal(records.length, 3);
    assert.equal(new Set(records.map((r) => r.JobId)).size, 3, "three job attempts");
    assert.ok(records.every((r) => r.RecordType === "job" && r.JobDuration === 198));
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});

describe("HTTPS with server.http2: true", () => {
  let srv;
  let https;

  before(async () => {
    const dir = tempDir();
    const cert = makeCertificate(dir);
    srv = await startServer({
      dir,
      config: { server: { http2: true, listen: [{ address: "127.0.0.1:0", tls: cert }] } },
    });
    https = srv.listeners[0];
  });
  after(async () => {
    await srv?.kill();
  });

  test("curl --http2 negotiates HTTP/2 by ALPN and a signed delivery → 202", async () => {
    const res = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: SECRET, args: ["--http2"] });
    assert.equal(res.status, 202, explain(res));
    assert.equal(res.httpVersion, "2", explain(res));
    assert.deepEqual(res.json, { status: "accepted" });
    assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/);
  });

  test("HTTP/2: form-urlencoded workflow_run → 202 and a ping → 200", async () => {
    const run = example("workflow_run", (e) => e.action === "completed" && e.payload.workflow_run.status === "completed");
    const r1 = await deliver(https.url + "/webhook", {
      event: "workflow_run", payload: freshIds(run.payload), encoding: "form", secret: SECRET, args: ["--http2"],
    });
    assert.equal(r1.status, 202, explain(r1));
    assert.equal(r1.httpVersion, "2");
    const ping = example("ping");
    const r2 = await deliver(https.url + "/webhook", { event: "ping", payload: ping.payload, secret: SECRET, args: ["--http2"] });
    assert.equal(r2.status, 200, explain(r2));
    assert.equal(r2.httpVersion, "2");
  });

  test("HTTP/2: a bad signature → 401 with a JSON body", async () => {
    const bad = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: "nope", args: ["--http2"] });
    assert.equal(bad.status, 401, explain(bad));
    assert.equal(bad.httpVersion, "2");
    assert.equal(bad.json?.delivery, bad.delivery);
  });

  test("HTTP/2: GET /webhook → 405 with a JSON body", async () => {
    const get = await curl(https.url + "/webhook", { insecure: true, args: ["--http2"] });
    assert.equal(get.status, 405, explain(get));
    assert.equal(get.httpVersion, "2");
    assert.equal(typeof get.json?.error, "string");
  });

  // h2o 2.2.5 refuses an oversized HTTP/2 body with RST_STREAM(REFUSED_STREAM)
  // as the DATA frames arrive, before any handler or filter can answer 413
  // (README: "HTTP/2"). What matters is that nothing is accepted or stored
  // and the connection's other streams and the server carry on.
  test("HTTP/2: a body over max_body is refused at the stream, nothing stored", async () => {
    const big = await deliver(https.url + "/webhook", {
      event: "workflow_job", payload: JSON.stringify(job()) + " ".repeat(2 * 1024 * 1024), secret: SECRET,
      args: ["--http2", "--retry", "0"],
    });
    assert.notEqual(big.status, 202, explain(big));
    assert.ok(big.status === 0 || big.status === 413, explain(big));
    const after = await deliver(https.url + "/webhook", { event: "ping", payload: { zen: "still here", hook_id: 1 }, secret: SECRET, args: ["--http2"] });
    assert.equal(after.status, 200, explain(after));
  });

  test("HTTP/1.1 still works on the same listener", async () => {
    const res = await deliver(https.url + "/webhook", { event: "workflow_job", payload: job(), secret: SECRET, args: ["--http1.1"] });
    assert.equal(res.status, 202, explain(res));
    assert.equal(res.httpVersion, "1.1");
  });

  test("the records written over HTTP/2 have the exact numbers", async () => {
    await srv.waitForEmf(3); // job over HTTP/2, run (form) over HTTP/2, job over HTTP/1.1
    const m = await srv.waitIdle();
    assert.equal(m.sum("gha_metrics_duplicates_total"), 0, m.text);
    assert.equal(m.get("gha_metrics_spool_appended_total"), 3, "the oversized body was never spooled");
    const records = srv.emfRecords();
    assert.equal(records.length, 3);
    const jobs = records.filter((r) => r.RecordType === "job");
    const runs = records.filter((r) => r.RecordType === "run");
    assert.equal(jobs.length, 2);
    assert.equal(runs.length, 1);
    assert.notEqual(jobs[0].JobId, jobs[1].JobId);
    for (const j of jobs) assert.deepEqual([j.JobDuration, j.JobQueueTime, j.BillableMinutes], [198, 60, 4]);
    assert.deepEqual([runs[0].RunDuration, runs[0].RunQueueDelay, runs[0].Team], [0, 25, "platform"]);
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});
