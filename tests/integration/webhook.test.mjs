// Every ping, workflow_run and workflow_job example of @octokit/webhooks-examples,
// signed with @octokit/webhooks-methods and POSTed with curl over plain HTTP/1.1,
// as JSON and as form-urlencoded; then the EMF records, /metrics and the logs.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { SECRET, deliver, example, examplesOf, explain, loadExamples, sign, startServer } from "./lib/harness.mjs";

const EXAMPLES = loadExamples(); // ping, workflow_run, workflow_job
const OTHER_EVENTS = ["push", "issues", "check_run"].map((e) => examplesOf(e)[0]);

/** What the service should answer to an example. */
function expected(ex) {
  if (ex.event === "ping") return { status: 200, body: { status: "ok" } };
  if (ex.event === "workflow_run" || ex.event === "workflow_job") return { status: 202, body: { status: "accepted" } };
  return { status: 202, body: { status: "ignored" } };
}

/** Whether an example should produce a record: action completed and status completed. */
function recordDue(ex) {
  const obj = ex.payload[ex.event];
  return (ex.event === "workflow_run" || ex.event === "workflow_job") && ex.action === "completed" && obj?.status === "completed";
}

const ms = (iso) => Date.parse(iso);

// The exact numbers of the completed examples (see the issue and shared/reference/github.md).
const RUN = {
  Repository: "octo-org/octo-repo",
  Workflow: "test", // workflow_run.name is "" in these examples: the workflow's name is the only usable value
  Team: "platform",
  RunDuration: 0, // updated_at 16:33:49 − run_started_at 16:33:49
  RunQueueDelay: 25, // run_started_at 16:33:49 − created_at 16:33:24
  RunCompleted: 1,
  RunFailed: 0,
  RecordType: "run",
  RunId: 289782451,
  RunAttempt: 1,
  Conclusion: "success",
  CreatedAt: "2020-10-05T16:33:24Z",
  StartedAt: "2020-10-05T16:33:49Z",
  CompletedAt: "2020-10-05T16:33:49Z",
  Timestamp: ms("2020-10-05T16:33:49Z"),
};
const JOB = {
  Repository: "Codertocat/Hello-World",
  Workflow: "CodeQL",
  Team: "unassigned", // teams are configured, but not for this repository
  JobDuration: 198, // completed 10:38:16 − started 10:34:58
  JobQueueTime: 60, // started 10:34:58 − created 10:33:58
  JobCompleted: 1,
  BillableMinutes: 4, // ceil(198 s / 60) × 1 (ubuntu-latest: Linux)
  RecordType: "job",
  JobId: 289782451,
  RunId: 2202229078,
  RunAttempt: 1,
  JobName: "linters",
  RunnerOs: "linux",
  Labels: ["ubuntu-latest"],
  CreatedAt: "2021-08-05T10:33:58Z",
  StartedAt: "2021-08-05T10:34:58Z",
  CompletedAt: "2021-08-05T10:38:16Z",
  Timestamp: ms("2021-08-05T10:38:16Z"),
};
const RUN_METRICS = [
  ["RunDuration", "Seconds"],
  ["RunQueueDelay", "Seconds"],
  ["RunCompleted", "Count"],
  ["RunFailed", "Count"],
];
const JOB_METRICS = [
  ["JobDuration", "Seconds"],
  ["JobQueueTime", "Seconds"],
  ["JobCompleted", "Count"],
  ["JobFailed", "Count"],
  ["BillableMinutes", "Count"],
];
const DEFAULT_DIMENSIONS = [["Repository", "Workflow"], ["Repository"], ["Team"], []];

/** Checks the _aws directive of one EMF line and that every declared metric and dimension has a value. */
function assertEmfShape(rec, metrics, dimensions, timestamp) {
  assert.equal(typeof rec._aws, "object", "an _aws member");
  assert.equal(rec._aws.Timestamp, timestamp, "_aws.Timestamp is the completion time in ms");
  assert.equal(rec._aws.CloudWatchMetrics.length, 1, "one metric directive");
  const [directive] = rec._aws.CloudWatchMetrics;
  assert.equal(directive.Namespace, "GitHubActions");
  assert.deepEqual(directive.Dimensions, dimensions);
  assert.deepEqual(
    directive.Metrics.map((m) => [m.Name, m.Unit]).sort(),
    [...metrics].sort(),
    "metric names and units",
  );
  for (const [name] of metrics) assert.equal(typeof rec[name], "number", `${name} has a numeric value`);
  for (const name of new Set(dimensions.flat())) {
    assert.equal(typeof rec[name], "string", `dimension ${name} has a value`);
    assert.ok(rec[name].length > 0, `dimension ${name} is not empty (CloudWatch refuses empty values)`);
  }
}

function pick(obj, keys) {
  return Object.fromEntries(keys.map((k) => [k, obj[k]]));
}

function assertRun(rec, deliveryId) {
  assertEmfShape(rec, RUN_METRICS, DEFAULT_DIMENSIONS, RUN.Timestamp);
  const { Timestamp, ...want } = RUN;
  assert.deepEqual(pick(rec, Object.keys(want)), want);
  assert.equal(rec.DeliveryId, deliveryId);
  assert.equal(rec.HeadBranch, "master");
  assert.equal(rec.Event, "repository_dispatch");
}

function assertJob(rec, deliveryId, conclusion) {
  assertEmfShape(rec, JOB_METRICS, DEFAULT_DIMENSIONS, JOB.Timestamp);
  const { Timestamp, ...want } = JOB;
  assert.deepEqual(pick(rec, Object.keys(want)), want);
  assert.equal(rec.Conclusion, conclusion);
  assert.equal(rec.JobFailed, conclusion === "failure" ? 1 : 0, "JobFailed follows the conclusion");
  assert.equal(rec.DeliveryId, deliveryId);
}

test("the signing helper matches GitHub's documented test vector", async () => {
  const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  assert.equal(await sign("It's a Secret to Everybody", "Hello, World!"), want);
  assert.equal(`sha256=${createHmac("sha256", "It's a Secret to Everybody").update("Hello, World!").digest("hex")}`, want);
});

describe("every example delivery, signed, over plain HTTP/1.1", () => {
  let srv;
  const sent = []; // { ex, encoding, delivery, res }

  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv?.kill();
  });

  for (const encoding of ["json", "form"]) {
    const type = encoding === "json" ? "application/json" : "application/x-www-form-urlencoded";
    for (const ex of EXAMPLES) {
      const want = expected(ex);
      test(`${ex.label} as ${type} → ${want.status} ${JSON.stringify(want.body)}`, async () => {
        const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, encoding, secret: SECRET });
        sent.push({ ex, encoding, delivery: res.delivery, res });
        assert.equal(res.status, want.status, explain(res));
        assert.equal(res.httpVersion, "1.1");
        assert.match(res.headers.get("content-type") ?? "", /^application\/json\b/);
        assert.deepEqual(res.json, want.body, explain(res));
      });
    }
  }

  for (const ex of OTHER_EVENTS) {
    test(`another event (${ex.event}) → 202 {"status":"ignored"}`, async () => {
      const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, secret: SECRET });
      sent.push({ ex, encoding: "json", delivery: res.delivery, res });
      assert.equal(res.status, 202, explain(res));
      assert.deepEqual(res.json, { status: "ignored" }, explain(res));
    });
  }

  test("the EMF file holds exactly one record per completed delivery, and nothing else", async () => {
    const due = sent.filter((s) => recordDue(s.ex));
    assert.equal(due.length, 8, "2 runs + 2 jobs, as JSON and as form");
    const records = await srv.waitForEmf(due.length);
    // Give a stray extra write no chance to hide: the count must be exact once the expected ones are there.
    assert.equal(records.length, due.length, `EMF lines: ${records.map((r) => r.DeliveryId).join(", ")}`);
    assert.deepEqual(
      records.map((r) => r.DeliveryId).sort(),
      due.map((s) => s.delivery).sort(),
      "one record for each completed workflow_run / workflow_job delivery (DeliveryId)",
    );
  });

  test("run records: RunDuration 0 s, RunQueueDelay 25 s, Team platform, completion timestamp", () => {
    const byId = new Map(srv.emfRecords().map((r) => [r.DeliveryId, r]));
    const runs = sent.filter((s) => recordDue(s.ex) && s.ex.event === "workflow_run");
    assert.equal(runs.length, 4);
    for (const s of runs) {
      const rec = byId.get(s.delivery);
      assert.ok(rec, `a record for ${s.ex.label} (${s.encoding})`);
      assertRun(rec, s.delivery);
    }
  });

  test("job records: JobDuration 198 s, JobQueueTime 60 s, BillableMinutes 4, JobFailed from the conclusion", () => {
    const byId = new Map(srv.emfRecords().map((r) => [r.DeliveryId, r]));
    const jobs = sent.filter((s) => recordDue(s.ex) && s.ex.event === "workflow_job");
    assert.equal(jobs.length, 4);
    assert.deepEqual(
      jobs.map((s) => s.ex.payload.workflow_job.conclusion).sort(),
      ["failure", "failure", "success", "success"],
    );
    for (const s of jobs) {
      const rec = byId.get(s.delivery);
      assert.ok(rec, `a record for ${s.ex.label} (${s.encoding})`);
      assertJob(rec, s.delivery, s.ex.payload.workflow_job.conclusion);
    }
  });

  test("/metrics counts every delivery by event and outcome, and the records written", async () => {
    const m = await srv.metrics();
    const count = (event) => sent.filter((s) => s.ex.event === event).length;
    const D = "gha_metrics_deliveries_total";
    assert.equal(m.get(D, { event: "ping", outcome: "accepted" }), count("ping"), m.text);
    assert.equal(m.get(D, { event: "workflow_run", outcome: "accepted" }), count("workflow_run"), m.text);
    assert.equal(m.get(D, { event: "workflow_job", outcome: "accepted" }), count("workflow_job"), m.text);
    assert.equal(m.get(D, { event: "other", outcome: "ignored" }), OTHER_EVENTS.length, m.text);
    assert.equal(m.sum(D), sent.length, "no delivery counted under another outcome");
    assert.equal(m.get("gha_metrics_records_written_total", { kind: "run" }), 4);
    assert.equal(m.get("gha_metrics_records_written_total", { kind: "job" }), 4);
    assert.ok(m.get("gha_metrics_process_resident_memory_bytes") > 1024 * 1024, "RSS is reported in bytes");
    assert.ok(m.has("gha_metrics_uptime_seconds") && m.get("gha_metrics_uptime_seconds") >= 0, "uptime");
  });

  test("one JSON log line per delivery (delivery, event, action, repository, outcome, us)", async () => {
    for (const s of sent) {
      const line = await srv.waitForLog((l) => l.msg === "delivery" && l.delivery === s.delivery, `log of ${s.delivery}`);
      assert.equal(srv.logs.filter((l) => l.msg === "delivery" && l.delivery === s.delivery).length, 1);
      assert.equal(line.level, "info");
      assert.equal(line.event, s.ex.event);
      assert.equal(line.outcome, s.ex.event === "ping" || s.ex.event.startsWith("workflow_") ? "accepted" : "ignored");
      assert.equal(typeof line.us, "number");
      assert.ok(line.us >= 0);
      assert.ok(typeof line.ts === "string" || typeof line.ts === "number", "a timestamp");
      if (s.ex.event.startsWith("workflow_")) {
        assert.equal(line.action, s.ex.action, `action of ${s.ex.label}`);
        assert.equal(line.repository, s.ex.payload.repository.full_name, `repository of ${s.ex.label}`);
      }
    }
  });

  test("the logs never contain the secret or the payload", () => {
    assert.ok(srv.stderr.length > 0);
    assert.ok(!srv.stderr.includes(SECRET), "the secret appears in the log");
    assert.ok(!srv.stdout.includes(SECRET), "the secret appears on stdout");
    const distinctive = [
      example("workflow_run", (e) => e.action === "completed").payload.workflow_run.display_title,
      example("workflow_run", (e) => e.action === "completed").payload.workflow_run.head_sha,
      examplesOf("ping")[0].payload.zen,
      example("workflow_job", (e) => e.action === "completed").payload.workflow_job.steps[3].name,
    ];
    for (const s of distinctive) assert.ok(!srv.stderr.includes(s), `payload text in the log: ${s}`);
  });

  test("GET /healthz and /readyz answer 200", async () => {
    const h = await srv.get("/healthz");
    assert.equal(h.status, 200, explain(h));
    const r = await srv.get("/readyz");
    assert.equal(r.status, 200, explain(r));
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop("SIGTERM");
  });
});

describe("without a teams: section", () => {
  let srv;
  before(async () => {
    srv = await startServer({ config: { teams: null } });
  });
  after(async () => {
    await srv?.kill();
  });

  test("records have no Team value and no [Team] dimension set", async () => {
    const run = example("workflow_run", (e) => e.action === "completed" && e.payload.workflow_run.status === "completed");
    const job = example("workflow_job", (e) => e.action === "completed");
    for (const ex of [run, job]) {
      const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, secret: SECRET });
      assert.equal(res.status, 202, explain(res));
    }
    const records = await srv.waitForEmf(2);
    assert.equal(records.length, 2);
    for (const rec of records) {
      assert.ok(!("Team" in rec), "no Team property");
      assert.deepEqual(rec._aws.CloudWatchMetrics[0].Dimensions, [["Repository", "Workflow"], ["Repository"], []]);
    }
    const byType = Object.fromEntries(records.map((r) => [r.RecordType, r]));
    assert.equal(byType.run.RunQueueDelay, 25);
    assert.equal(byType.job.JobDuration, 198);
  });

  test("SIGINT: exits with status 0", async () => {
    await srv.stop("SIGINT");
  });
});
