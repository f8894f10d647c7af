// The DynamoDB ledger (`ledger: {backend: dynamodb}`) against a real DynamoDB-compatible server: dynalite
// behind a SigV4-checking proxy (tests/servers/dynamodb.mjs). Two receivers behind one "load balancer"
// and a backfill share one table; whatever reaches whom, each run attempt is recorded exactly once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";

import { SECRET, deliver, run, startServer, toYaml } from "./lib/harness.mjs";
import { keyEnv } from "./lib/aws-harness.mjs";
import { startDynamo, DEFAULT_CREDENTIAL, DEFAULT_REGION } from "../servers/dynamodb.mjs";
import { makeRun, startGithub } from "../servers/github.mjs";

const TOKEN = "ghp_shared_ledger_token";
const HOUR = 3_600_000;
const UNTIL = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const SINCE = UNTIL - 24 * HOUR;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

let ddb;
let gh;
let n = 0;
before(async () => {
  ddb = await startDynamo({ tables: ["ledger-a", "ledger-b", "ledger-c"] });
  gh = await startGithub({ token: TOKEN });
});
after(async () => {
  await ddb?.close();
  await gh?.close();
});

function ledgerConfig(table) {
  return { backend: "dynamodb", table, region: DEFAULT_REGION, endpoint: ddb.url };
}
const env = () => keyEnv(DEFAULT_CREDENTIAL);

async function receivers(table) {
  const cfg = { teams: null, ledger: ledgerConfig(table) };
  return Promise.all([startServer({ config: cfg, env: env() }), startServer({ config: cfg, env: env() })]);
}

const payloadOf = (r) => ({ action: "completed", workflow_run: r, repository: { id: r.repository.id, full_name: r.repository.full_name } });
const runRecords = (srv) => srv.emfRecords().filter((r) => r.RunId != null && r.JobId == null);
function perRun(servers) {
  const m = new Map();
  for (const s of servers) for (const r of runRecords(s)) m.set(String(r.RunId), (m.get(String(r.RunId)) || 0) + 1);
  return m;
}

test("two receivers sharing a table: a redelivery to the other one, or a second delivery id, is not counted twice", async () => {
  const [a, b] = await receivers("ledger-a");
  const repo = "octo-org/shared";
  const runs = [];
  for (let i = 0; i < 20; i++) runs.push(gh.addRun(repo, makeRun({ created_at: iso(SINCE + (i + 1) * 60_000), status: "completed", conclusion: "success" })));
  // Each run reaches A; the same delivery (same guid) also reaches B at the same time for even runs, and a
  // different delivery id (someone re-sent it by hand) for odd ones.
  await Promise.all(runs.map(async (r, i) => {
    const guid = `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
    const [ra, rb] = await Promise.all([
      deliver(a.webhookUrl, { event: "workflow_run", payload: payloadOf(r), secret: SECRET, delivery: guid }),
      deliver(b.webhookUrl, { event: "workflow_run", payload: payloadOf(r), secret: SECRET, delivery: i % 2 ? `f${guid.slice(1)}` : guid }),
    ]);
    assert.equal(ra.status, 202, ra.text);
    assert.equal(rb.status, 202, rb.text);
  }));
  await a.waitIdle();
  await b.waitIdle();
  const counts = perRun([a, b]);
  for (const r of runs) assert.equal(counts.get(String(r.id)), 1, `run ${r.id} recorded ${counts.get(String(r.id)) ?? 0} times`);
  const ma = await a.metrics();
  const mb = await b.metrics();
  const dups = (m) => m.get("gha_metrics_duplicates_total", { kind: "run" }) + m.get("gha_metrics_duplicates_total", { kind: "delivery" });
  assert.equal(dups(ma) + dups(mb), runs.length, "one of each pair was dropped as a duplicate");
  assert.equal(ma.get("gha_metrics_shared_ledger_errors_total"), 0);
  await a.stop();
  await b.stop();
});

test("the backfill reads the shared table and hands only the missing runs to a receiver; none twice", async () => {
  const [a, b] = await receivers("ledger-b");
  const repo = "octo-org/mixed";
  const runs = [];
  for (let i = 0; i < 30; i++) runs.push(gh.addRun(repo, makeRun({ created_at: iso(SINCE + (i + 1) * 120_000), status: "completed", conclusion: "success" })));
  // A third to each receiver; a third never delivered.
  for (const [i, r] of runs.entries()) {
    if (i % 3 === 2) continue;
    const res = await deliver((i % 3 === 0 ? a : b).webhookUrl, { event: "workflow_run", payload: payloadOf(r), secret: SECRET });
    assert.equal(res.status, 202);
  }
  await a.waitIdle();
  await b.waitIdle();

  const cfg = { ...a.config, teams: undefined, ledger: ledgerConfig("ledger-b"), backfill: { github: { url: gh.url, token: "env:GM_TEST_GITHUB_TOKEN" }, repositories: [repo], receiver: b.webhookUrl } };
  delete cfg.teams;
  const p = path.join(a.dir, "backfill.yaml");
  writeFileSync(p, toYaml(cfg));
  const args = ["backfill", "--config", p, "--since", iso(SINCE), "--until", iso(UNTIL), "--json"];
  const res = await run(args, { env: { ...env(), GM_TEST_GITHUB_TOKEN: TOKEN }, timeoutMs: 60_000 });
  assert.equal(res.code, 0, res.stderr);
  const summary = JSON.parse(res.stdout.slice(res.stdout.indexOf("{")));
  assert.equal(summary.runs_seen, 30);
  assert.equal(summary.runs_known, 20);
  assert.equal(summary.runs_stored, 10);
  await b.waitIdle();
  const counts = perRun([a, b]);
  for (const r of runs) assert.equal(counts.get(String(r.id)), 1, `run ${r.id}`);

  // The same backfill against the other receiver right after: everything is known now.
  const again = await run(args, { env: { ...env(), GM_TEST_GITHUB_TOKEN: TOKEN }, timeoutMs: 60_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout.slice(again.stdout.indexOf("{"))).runs_missing, 0);
  await a.stop();
  await b.stop();
});

test("a receiver keeps deliveries while the table is unreachable and records them once it answers", async () => {
  const [a] = await Promise.all([startServer({ config: { teams: null, ledger: ledgerConfig("ledger-c") }, env: env() })]);
  const repo = "octo-org/outage";
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(gh.addRun(repo, makeRun({ created_at: iso(SINCE + (i + 1) * 60_000), status: "completed", conclusion: "success" })));
  ddb.fault("fail5xx", 1_000_000);
  for (const r of runs) {
    const res = await deliver(a.webhookUrl, { event: "workflow_run", payload: payloadOf(r), secret: SECRET });
    assert.equal(res.status, 202, "stored: the table is not on the receiving path");
  }
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(runRecords(a).length, 0, "nothing recorded while the table cannot say who was first");
  assert.ok((await a.metrics()).get("gha_metrics_shared_ledger_errors_total") > 0);
  // Still taking deliveries (they are safe on disk), and saying why records wait.
  const during = await a.get("/readyz");
  assert.equal(during.status, 200, during.text);
  const body = JSON.parse(during.text);
  assert.equal(body.status, "degraded");
  assert.match(body.reasons.join(" "), /shared ledger \(DynamoDB\) failing for \d+ s/);
  ddb.clearFaults();
  await a.waitIdle(30_000);
  assert.equal(runRecords(a).length, 3);
  const after = JSON.parse((await a.get("/readyz")).text);
  assert.equal(after.status, "ready", JSON.stringify(after));
  await a.stop();
});
