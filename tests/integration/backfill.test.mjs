// `gha-metrics backfill` end to end: the real binary against the GitHub stand-in (tests/servers/github.mjs)
// and a real receiver. Some runs come in as deliveries; the backfill must hand the receiver exactly the
// others (none twice, none missed), spend the minimum of requests, survive rate limits, redeliver only
// failed guids, and a second run right after must record nothing and spend only 304s.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";

import { SECRET, deliver, run, startServer, tempDir, toYaml, waitFor } from "./lib/harness.mjs";
import { makeJob, makeRun, startGithub } from "../servers/github.mjs";

const TOKEN = "ghp_backfill_test_token";
const HOUR = 3_600_000;
// A window that ended an hour ago, so "now" (the stand-in's and the binary's) is past it.
const UNTIL = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const SINCE = UNTIL - 48 * HOUR;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

let gh;
before(async () => {
  gh = await startGithub({ token: TOKEN });
});
after(async () => {
  await gh?.close?.();
});

/** Runs `count` completed runs into repo, created inside the window; returns them (as the API shows them). */
function seedRuns(repo, count, { offsetMs = 0 } = {}) {
  const runs = [];
  for (let i = 0; i < count; i++) {
    const created = SINCE + offsetMs + Math.floor(((i + 0.5) * (UNTIL - SINCE)) / (count + 1));
    runs.push(gh.addRun(repo, makeRun({ created_at: iso(created), status: "completed", conclusion: "success" })));
  }
  return runs;
}

/** The delivery GitHub would have sent for a completed run. */
function runDeliveryOf(r) {
  return { action: "completed", workflow_run: r, repository: { id: r.repository.id, full_name: r.repository.full_name } };
}

async function startReceiver(extra = {}) {
  return startServer({ config: { teams: null, ...extra } });
}

function backfillConfig(srv, backfill = {}, { receiver } = {}) {
  const cfg = { ...srv.config };
  delete cfg.teams;
  cfg.backfill = {
    github: { url: gh.url, token: "env:GM_TEST_GITHUB_TOKEN" },
    receiver: receiver ?? srv.webhookUrl,
    ...backfill,
  };
  const p = path.join(srv.dir, "backfill.yaml");
  writeFileSync(p, toYaml(cfg));
  return p;
}

async function backfill(configPath, args = [], { env = {}, timeoutMs = 60_000, cwd } = {}) {
  const res = await run(
    ["backfill", "--config", configPath, "--since", iso(SINCE), "--until", iso(UNTIL), "--json", ...args],
    { env: { GM_TEST_GITHUB_TOKEN: TOKEN, ...env }, timeoutMs, cwd },
  );
  let summary = null;
  try {
    summary = JSON.parse(res.stdout.slice(res.stdout.indexOf("{")));
  } catch {
    /* asserted by the caller */
  }
  return { ...res, summary };
}

const runRecords = (srv) => srv.emfRecords().filter((r) => r.RunId != null && r.JobId == null);
function countBy(records, key) {
  const m = new Map();
  for (const r of records) m.set(String(r[key]), (m.get(String(r[key])) || 0) + 1);
  return m;
}
const listingRequests = () => gh.requests().filter((r) => /\/actions\/runs$/.test(r.path));

test("records exactly the runs no delivery brought, with the fewest requests; a second run spends only 304s", async () => {
  gh.reset();
  const a = seedRuns("octo-org/alpha", 150); // two pages of 100
  const b = seedRuns("octo-org/beta", 30);
  const srv = await startReceiver();
  // Every other run arrives as a delivery.
  const delivered = [...a, ...b].filter((_, i) => i % 2 === 0);
  for (const r of delivered) {
    const res = await deliver(srv.webhookUrl, { event: "workflow_run", payload: runDeliveryOf(r), secret: SECRET });
    assert.equal(res.status, 202);
  }
  // Idle means the checkpoint past the last delivery, and the ledger log with it, are on disk: what the
  // backfill's snapshot reads.
  await srv.waitIdle();
  gh.clear();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/alpha", "octo-org/beta"] });

  const first = await backfill(cfg);
  assert.equal(first.code, 0, first.stderr);
  const s = first.summary;
  assert.ok(s, `no JSON summary: ${first.stdout}`);
  assert.equal(s.runs_seen, 180);
  assert.equal(s.runs_known, delivered.length);
  assert.equal(s.runs_missing, 180 - delivered.length);
  assert.equal(s.runs_stored, 180 - delivered.length);
  // The minimum for this data: alpha 2 pages, beta 1.
  assert.equal(listingRequests().length, 3, JSON.stringify(listingRequests().map((r) => r.path + JSON.stringify(r.query))));
  assert.equal(s.api_requests, 3);
  assert.match(first.stderr, /runs/i, "a summary table on stderr");

  await srv.waitIdle();
  const records = runRecords(srv);
  const perRun = countBy(records, "RunId");
  for (const r of [...a, ...b]) assert.equal(perRun.get(String(r.id)), 1, `run ${r.id} recorded ${perRun.get(String(r.id)) ?? 0} times`);
  assert.equal(records.length, 180);
  const backfilled = new Set(records.filter((r) => r.Backfilled === true).map((r) => String(r.RunId)));
  const deliveredIds = new Set(delivered.map((r) => String(r.id)));
  assert.equal(backfilled.size, 180 - delivered.length);
  for (const id of backfilled) assert.ok(!deliveredIds.has(id), `run ${id} was delivered, yet tagged Backfilled`);
  const m = await srv.metrics();
  assert.equal(m.get("gha_metrics_records_backfilled_total", { kind: "run" }), 180 - delivered.length);

  // Right after: nothing missing, nothing submitted, every listing page a 304.
  gh.clear();
  const second = await backfill(cfg);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.summary.runs_missing, 0);
  assert.equal(second.summary.runs_stored, 0);
  const pages = listingRequests();
  assert.equal(pages.length, 3);
  for (const p of pages) assert.equal(p.status, 304, `${p.path} answered ${p.status}`);
  assert.equal(second.summary.api_not_modified, 3);
  assert.equal(runRecords(srv).length, 180, "nothing recorded twice");
  await srv.stop();
});

test("--dry-run prints what is missing and changes nothing", async () => {
  gh.reset();
  const runs = seedRuns("octo-org/gamma", 4);
  const srv = await startReceiver();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/gamma"] });
  const res = await backfill(cfg, ["--dry-run"]);
  assert.equal(res.code, 0, res.stderr);
  // With --json, stdout is the summary alone and the table goes to stderr.
  for (const r of runs) assert.match(res.stderr, new RegExp(`octo-org/gamma\\s+${r.id}\\s+1\\s`), res.stderr);
  assert.doesNotThrow(() => JSON.parse(res.stdout), "stdout is one JSON document");
  const plain = await run(["backfill", "--config", cfg, "--since", iso(SINCE), "--until", iso(UNTIL), "--dry-run"], { env: { GM_TEST_GITHUB_TOKEN: TOKEN } });
  assert.equal(plain.code, 0, plain.stderr);
  for (const r of runs) assert.match(plain.stdout, new RegExp(`octo-org/gamma\\s+${r.id}\\s+1\\s`), plain.stdout);
  assert.equal(res.summary.runs_missing, 4);
  assert.equal(res.summary.runs_stored, 0);
  assert.equal(runRecords(srv).length, 0);
  const m = await srv.metrics();
  assert.equal(m.get("gha_metrics_spool_appended_total") ?? 0, 0, "nothing reached the receiver");
  await srv.stop();
});

test("rate limits (a secondary 403 with retry-after, the primary reserve until reset) slow it down but lose nothing", async () => {
  gh.reset();
  const runs = [...seedRuns("octo-org/delta", 120), ...seedRuns("octo-org/epsilon", 5)];
  const srv = await startReceiver();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/delta", "octo-org/epsilon"] });
  gh.secondaryLimit(1, 1); // the first request: 403 with retry-after: 1
  // Then 51 requests left of the hour, reset in 3 s: at the client's reserve of 50 after one more, so it
  // waits for the reset instead of running the bucket dry.
  gh.setRateLimit({ limit: 5000, remaining: 51, resetInS: 3 });
  const started = Date.now();
  const res = await backfill(cfg);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(Date.now() - started >= 1000, "waited for retry-after");
  assert.equal(res.summary.runs_stored, runs.length);
  assert.equal(res.summary.api_rate_limited, 1, "the secondary 403");
  const c = gh.counts();
  assert.equal(c.secondaryLimited, 1);
  assert.equal(c.primaryLimited, 0, "the reserve kept it from ever being refused");
  // 1 s for the retry-after, then until the reset (about 2 s more).
  assert.ok(res.summary.api_waited_ms >= 2000, `waited ${res.summary.api_waited_ms} ms`);
  assert.equal(c.maxInFlight, 1, "one request at a time");
  await srv.waitIdle();
  assert.equal(runRecords(srv).length, runs.length);
  await srv.stop();
});

test("a repository that 404s or 403s is reported and skipped; the others are recorded; exit 1", async () => {
  gh.reset();
  const ok = seedRuns("octo-org/zeta", 3);
  gh.addRepo("octo-org/secret", { forbidden: true });
  const srv = await startReceiver();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/nope", "octo-org/secret", "octo-org/zeta"] });
  const res = await backfill(cfg);
  assert.equal(res.code, 1, res.stderr);
  const failed = Object.fromEntries(res.summary.failed_repositories.map((f) => [f.repository, f.status]));
  assert.deepEqual(failed, { "octo-org/nope": 404, "octo-org/secret": 403 });
  assert.equal(res.summary.runs_stored, ok.length);
  assert.ok(!res.stderr.includes(TOKEN) && !res.stdout.includes(TOKEN), "the token never appears");
  await srv.waitIdle();
  assert.equal(runRecords(srv).length, ok.length);
  await srv.stop();
});

test("--jobs records the jobs of missing runs too, once", async () => {
  gh.reset();
  const [r1, r2] = seedRuns("octo-org/eta", 2);
  const jobs = [];
  for (const r of [r1, r2])
    for (let k = 0; k < 3; k++)
      jobs.push(gh.addJob("octo-org/eta", r.id, 1, makeJob({ name: `job-${k}`, started_at: r.run_started_at, completed_at: r.updated_at, created_at: r.created_at })));
  const srv = await startReceiver();
  // r1 and one of its jobs were delivered.
  await deliver(srv.webhookUrl, { event: "workflow_run", payload: runDeliveryOf(r1), secret: SECRET });
  const j0 = jobs[0];
  await deliver(srv.webhookUrl, {
    event: "workflow_job",
    payload: { action: "completed", workflow_job: j0, repository: { full_name: "octo-org/eta", id: r1.repository.id } },
    secret: SECRET,
  });
  await srv.waitIdle();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/eta"] });
  const res = await backfill(cfg, ["--jobs"]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.summary.runs_stored, 1);
  assert.equal(res.summary.jobs_stored, 3, JSON.stringify(res.summary));
  await srv.waitIdle();
  const jobRecords = srv.emfRecords().filter((r) => r.JobId != null);
  const perJob = countBy(jobRecords, "JobId");
  // r2's three jobs came from the backfill; r1's jobs are not fetched (r1 was delivered).
  for (const j of jobs.slice(3)) assert.equal(perJob.get(String(j.id)), 1, `job ${j.id}`);
  assert.equal(perJob.get(String(j0.id)), 1);
  assert.equal(jobRecords.length, 4);
  await srv.stop();
});

test("redelivers only failed guids that the ledger does not know, at most one POST a second", async () => {
  gh.reset();
  gh.addOrg("octo-org");
  const hook = { org: "octo-org", hookId: 77 };
  const at = (minAgo) => iso(Date.now() - minAgo * 60_000);
  // failed twice: redeliver
  gh.addDelivery({ ...hook, guid: "f1-failed-twice", status: "failed to connect", delivered_at: at(30) });
  gh.addDelivery({ ...hook, guid: "f1-failed-twice", status: "failed to connect", delivered_at: at(29), redelivery: true });
  gh.addDelivery({ ...hook, guid: "f2-failed", status: "Timed out", status_code: 0, delivered_at: at(28), event: "workflow_job" });
  // failed, then OK: nothing to do
  gh.addDelivery({ ...hook, guid: "f3-then-ok", status: "failed to connect", delivered_at: at(27) });
  gh.addDelivery({ ...hook, guid: "f3-then-ok", status: "OK", delivered_at: at(26), redelivery: true });
  // failed at GitHub, but the receiver has it (answered after GitHub's 10 s): nothing to do
  gh.addDelivery({ ...hook, guid: "f4-in-ledger", status: "Timed out", status_code: 0, delivered_at: at(25) });
  // not an event this service uses
  gh.addDelivery({ ...hook, guid: "f5-push", status: "failed to connect", delivered_at: at(24), event: "push" });
  // OK
  gh.addDelivery({ ...hook, guid: "f6-ok", status: "OK", delivered_at: at(23) });

  const srv = await startReceiver();
  const run0 = makeRun({ created_at: at(40), status: "completed", conclusion: "success" });
  run0.repository = { id: 1, full_name: "octo-org/theta" };
  const res0 = await deliver(srv.webhookUrl, { event: "workflow_run", payload: runDeliveryOf(run0), secret: SECRET, delivery: "f4-in-ledger" });
  assert.equal(res0.status, 202);
  await srv.waitIdle();
  gh.addRepo("octo-org/theta");
  const cfg = backfillConfig(srv, { repositories: ["octo-org/theta"], redeliver: { organization: "octo-org", hook_id: 77 } });

  const dry = await run(["backfill", "--config", cfg, "--since", "2h", "--dry-run", "--json"], { env: { GM_TEST_GITHUB_TOKEN: TOKEN } });
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(gh.redeliveries().length, 0, "a dry run asks nothing");

  const res = await run(["backfill", "--config", cfg, "--since", "2h", "--json"], { env: { GM_TEST_GITHUB_TOKEN: TOKEN }, timeoutMs: 30_000 });
  assert.equal(res.code, 0, res.stderr);
  const asked = gh.redeliveries();
  assert.deepEqual(asked.map((r) => r.guid).sort(), ["f1-failed-twice", "f2-failed"]);
  const summary = JSON.parse(res.stdout.slice(res.stdout.indexOf("{")));
  assert.equal(summary.redeliveries_asked, 2);
  const gap = Math.abs(Date.parse(asked[1].at) - Date.parse(asked[0].at));
  assert.ok(gap >= 1000, `redeliveries ${gap} ms apart`);
  await srv.stop();
});

test("a receiver that cannot be reached fails the run (exit 1); the next run records everything", async () => {
  gh.reset();
  const runs = seedRuns("octo-org/iota", 3);
  const srv = await startReceiver();
  const cfg = backfillConfig(srv, { repositories: ["octo-org/iota"] }, { receiver: "http://127.0.0.1:9/webhook" });
  const res = await backfill(cfg);
  assert.equal(res.code, 1, res.stderr);
  assert.equal(res.summary.runs_stored, 0);
  assert.ok(res.summary.runs_failed >= 1);
  const ok = await backfill(backfillConfig(srv, { repositories: ["octo-org/iota"] }));
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.summary.runs_stored, runs.length);
  await srv.waitIdle();
  assert.equal(runRecords(srv).length, runs.length);
  await srv.stop();
});

test("bad configuration exits 2 and says why; the token never appears", async () => {
  const dir = tempDir();
  const srv = { config: { webhook: { secrets: [SECRET] }, spool: { dir: path.join(dir, "spool") } }, dir, webhookUrl: "http://127.0.0.1:9/webhook" };
  const noScope = backfillConfig(srv, {});
  let res = await run(["backfill", "--config", noScope], { env: { GM_TEST_GITHUB_TOKEN: TOKEN } });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /nothing in scope/);
  const cfg = backfillConfig(srv, { repositories: ["octo-org/x"] });
  res = await run(["backfill", "--config", cfg], { env: { GM_TEST_GITHUB_TOKEN: "" } });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /GM_TEST_GITHUB_TOKEN/);
  res = await run(["backfill", "--config", cfg, "--since", "yesterday"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--since/);
  res = await run(["backfill"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /missing --config/);
});

test("a second receiver on the same spool.dir is refused: one process owns a store", async () => {
  const srv = await startReceiver();
  const res = await run(["serve", "--config", srv.configPath], { cwd: srv.dir, timeoutMs: 10_000 });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /is used by another gha-metrics \(process \d+\)/);
  // The first one is unharmed.
  const r = await deliver(srv.webhookUrl, { event: "ping", payload: { zen: "z", hook_id: 1 }, secret: SECRET });
  assert.equal(r.status, 200);
  await srv.stop();
  await waitFor(() => srv.exit, { what: "exit" });
});
