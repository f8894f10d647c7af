// The nightly Lambda: the real binary as a custom runtime (`gha-metrics lambda`, what `bootstrap` runs),
// driven through the Lambda Runtime API stand-in (tests/servers/lambda-runtime.mjs). Each invocation is a
// backfill whose JSON summary is the response; a bad event is an invocation error and the loop goes on.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";

import { BIN, SECRET, deliver, startServer, summary as srvSummary, toYaml } from "./lib/harness.mjs";
import { makeRun, startGithub } from "../servers/github.mjs";
import { startRuntime } from "../servers/lambda-runtime.mjs";

const TOKEN = "ghp_lambda_token";
const HOUR = 3_600_000;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

let gh;
let rt;
before(async () => {
  gh = await startGithub({ token: TOKEN });
  rt = await startRuntime();
});
after(async () => {
  await gh?.close();
  await rt?.close?.();
});

function startLambda(configPath, extraEnv = {}) {
  const child = spawn(BIN, ["lambda"], {
    env: { ...process.env, AWS_LAMBDA_RUNTIME_API: rt.address, GHA_METRICS_CONFIG: configPath, GM_TEST_GITHUB_TOKEN: TOKEN, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stderr: "", exit: null };
  child.stderr.on("data", (d) => (out.stderr += d));
  out.exited = new Promise((resolve) => child.on("close", (code, signal) => resolve((out.exit = { code, signal }))));
  out.child = child;
  return out;
}

test("each invocation runs a backfill and answers its summary; a bad event is an error and the loop goes on", async () => {
  const now = Date.now();
  const repo = "octo-org/nightly";
  // Two runs inside the default window (the 48 h before the next whole hour), one delivered.
  const r1 = gh.addRun(repo, makeRun({ created_at: iso(now - 3 * HOUR), status: "completed", conclusion: "success" }));
  const r2 = gh.addRun(repo, makeRun({ created_at: iso(now - 2 * HOUR), status: "completed", conclusion: "failure" }));
  // And one only an explicit, older window finds.
  const r3 = gh.addRun(repo, makeRun({ created_at: iso(now - 100 * HOUR), status: "completed", conclusion: "success" }));

  const srv = await startServer({ config: { teams: null } });
  const d = await deliver(srv.webhookUrl, {
    event: "workflow_run",
    payload: { action: "completed", workflow_run: r1, repository: { id: r1.repository.id, full_name: repo } },
    secret: SECRET,
  });
  assert.equal(d.status, 202);
  await srv.waitIdle();

  const cfg = { ...srv.config, backfill: { github: { url: gh.url, token: "env:GM_TEST_GITHUB_TOKEN" }, repositories: [repo], receiver: srv.webhookUrl } };
  delete cfg.teams;
  const configPath = path.join(srv.dir, "lambda.yaml");
  writeFileSync(configPath, toYaml(cfg));

  const lambda = startLambda(configPath);
  try {
    // 1. What EventBridge sends on a schedule: the defaults apply.
    rt.invoke({ version: "0", id: "e1", "detail-type": "Scheduled Event", source: "aws.events", time: iso(now), region: "eu-west-1", resources: [], detail: {} },
      { deadlineMs: Date.now() + 120_000 });
    // 2. A bad event.
    rt.invoke({ since: "last tuesday" });
    // 3. An explicit window.
    rt.invoke({ since: iso(now - 120 * HOUR), until: iso(now - 90 * HOUR), repositories: [repo] });
    const results = await rt.waitForResults(3, { timeoutMs: 60_000 });
    const [scheduled, bad, explicit] = results;
    assert.equal(scheduled.kind, "response", JSON.stringify(scheduled) + lambda.stderr);
    assert.equal(scheduled.body.runs_seen, 2);
    assert.equal(scheduled.body.runs_stored, 1, JSON.stringify(scheduled.body));
    assert.equal(bad.kind, "error");
    assert.equal(bad.body.errorType, "Backfill.InvalidEvent");
    assert.match(bad.body.errorMessage, /since/);
    assert.equal(explicit.kind, "response", JSON.stringify(explicit));
    assert.equal(explicit.body.runs_stored, 1);
    await srv.waitIdle();
    const ids = srv.emfRecords().filter((r) => r.RunId != null && r.JobId == null).map((r) => String(r.RunId)).sort();
    assert.deepEqual(ids, [r1.id, r2.id, r3.id].map(String).sort());
    assert.deepEqual(rt.violations(), [], "the runtime API contract was kept");
  } finally {
    lambda.child.kill("SIGTERM");
    await lambda.exited;
  }
  assert.ok(!lambda.stderr.includes(TOKEN), "the token never appears in the logs");
  await srv.stop();
});

test("a configuration that does not load is reported as an init error", async () => {
  rt.reset();
  const lambda = startLambda("/nonexistent/config.yaml");
  const exit = await Promise.race([lambda.exited, new Promise((r) => setTimeout(() => r(null), 10_000))]);
  if (!exit) lambda.child.kill("SIGKILL");
  assert.ok(exit, "exits");
  assert.equal(exit.code, 2);
  const errors = rt.initErrors();
  assert.equal(errors.length, 1, JSON.stringify(errors) + srvSummary({ stderrLines: lambda.stderr.split("\n") }));
  assert.equal(errors[0].errorType, "Runtime.ConfigurationError", "the error-type header");
  assert.equal(errors[0].body.errorType, "Runtime.ConfigurationError", JSON.stringify(errors[0]));
});

test("the packaged zip: bootstrap runs the runtime loop through its own loader and libraries", { timeout: 600_000 }, async () => {
  // scripts/test has built build/release already (the package's build is the same Release build, so this
  // only re-links nothing); run by hand without it, the script builds build/lambda first.
  const { execFile } = await import("node:child_process");
  const { mkdtempSync } = await import("node:fs");
  const os = await import("node:os");
  const src = process.env.GM_SOURCE_DIR ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
  const work = mkdtempSync(path.join(os.tmpdir(), "gm-lambda-zip-"));
  const zip = path.join(work, "fn.zip");
  const sh = (cmd, args, opts = {}) => new Promise((resolve) => execFile(cmd, args, { maxBuffer: 1 << 24, ...opts }, (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr })));
  const built = await sh(path.join(src, "deploy/lambda/build"), ["--out", zip], {
    cwd: src,
    env: { ...process.env, BUILD_DIR: process.env.GM_LAMBDA_BUILD_DIR ?? path.join(src, "build/lambda") },
  });
  assert.equal(built.code, 0, built.stderr + built.stdout);
  const root = path.join(work, "fn");
  const un = await sh("unzip", ["-q", zip, "-d", root]);
  assert.equal(un.code, 0, un.stderr);

  rt.reset();
  rt.invoke({ since: "1h", repositories: ["octo-org/none"], dry_run: true });
  // Lambda's environment: nothing of ours but the runtime API and the task root; no config → the
  // default path $LAMBDA_TASK_ROOT/config.yaml is missing, which is an init error.
  const child = spawn(path.join(root, "bootstrap"), [], {
    env: { AWS_LAMBDA_RUNTIME_API: rt.address, LAMBDA_TASK_ROOT: root, PATH: "/usr/bin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exit = await new Promise((resolve) => child.on("close", (code) => resolve(code)));
  assert.equal(exit, 2, stderr);
  const errors = rt.initErrors();
  assert.equal(errors.length, 1, stderr);
  assert.match(JSON.stringify(errors[0]), /Runtime\.ConfigurationError/);
  assert.match(JSON.stringify(errors[0]), /config\.yaml/);
});
