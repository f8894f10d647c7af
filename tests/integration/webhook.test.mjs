// Every ping, workflow_run and workflow_job example of @octokit/webhooks-examples,
// signed with @octokit/webhooks-methods and POSTed with curl over plain HTTP/1.1,
// as JSON and as form-urlencoded; then the EMF records, /metrics and the logs.
//
// The service records a completed run attempt (workflow_run.id + run_attempt) or
// job attempt (workflow_job.id + run_attempt) once, however many deliveries carry
// it, and answers a repeated X-GitHub-Delivery 200 {"status":"duplicate"}. The
// examples reuse their ids (both completed workflow_run examples are run 289782451
// attempt 1, both completed workflow_job examples job 289782451 attempt 1), so
// sending them as they are checks the dedupe; the same examples with ids of their
// own (freshIds) check that each distinct attempt gets its record, with the exact
// numbers, in both encodings.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import {
  SECRET, attemptKey, deliver, example, examplesOf, explain, freshIds, loadExamples, restartServer, sign, startServer,
} from "./lib/harness.mjs";

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

const COMPLETED = EXAMPLES.filter(recordDue); // workflow_run[1], [2] and workflow_job[1] (failure), [2] (success)
const COMPLETED_RUN = () => example("workflow_run", (e) => e.action === "completed" && e.payload.workflow_run.status === "completed");
const COMPLETED_JOB = () => example("workflow_job", (e) => e.action === "completed");

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

/** A run record: the example's exact numbers, with the run id and attempt of `payload` (the one sent). */
function assertRun(rec, deliveryId, payload) {
  assertEmfShape(rec, RUN_METRICS, DEFAULT_DIMENSIONS, RUN.Timestamp);
  const { Timestamp, ...want } = RUN;
  want.RunId = payload.workflow_run.id;
  want.RunAttempt = payload.workflow_run.run_attempt;
  assert.deepEqual(pick(rec, Object.keys(want)), want);
  assert.equal(rec.DeliveryId, deliveryId);
  assert.equal(rec.HeadBranch, "master");
  assert.equal(rec.Event, "repository_dispatch");
}

/** A job record: the example's exact numbers, with the job id, run id and attempt of `payload`. */
function assertJob(rec, deliveryId, payload) {
  const conclusion = payload.workflow_job.conclusion;
  assertEmfShape(rec, JOB_METRICS, DEFAULT_DIMENSIONS, JOB.Timestamp);
  const { Timestamp, ...want } = JOB;
  want.JobId = payload.workflow_job.id;
  want.RunId = payload.workflow_job.run_id;
  want.RunAttempt = payload.workflow_job.run_attempt;
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
  const sent = []; // { ex, encoding, delivery, res }, in the order sent (and so spooled and processed)

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

  // The completed examples again, each copy a run or job attempt of its own.
  for (const encoding of ["json", "form"]) {
    const type = encoding === "json" ? "application/json" : "application/x-www-form-urlencoded";
    for (const original of COMPLETED) {
      test(`${original.label} with ids of its own, as ${type} → 202 {"status":"accepted"}`, async () => {
        const ex = freshIds(original);
        const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, encoding, secret: SECRET });
        sent.push({ ex, encoding, delivery: res.delivery, res, fresh: true });
        assert.equal(res.status, 202, explain(res));
        assert.deepEqual(res.json, { status: "accepted" }, explain(res));
      });
    }
  }

  /** The first delivery of each distinct run / job attempt that is due a record, by attemptKey. */
  function firstOfEachAttempt() {
    const first = new Map();
    for (const s of sent.filter((x) => recordDue(x.ex))) {
      const key = attemptKey(s.ex.payload);
      if (!first.has(key)) first.set(key, s);
    }
    return first;
  }

  test("the EMF file holds exactly one record per distinct run / job attempt: the first delivery's", async () => {
    const due = sent.filter((s) => recordDue(s.ex));
    assert.equal(due.length, 16, "2 runs + 2 jobs, as JSON and as form, as they are and with ids of their own");
    const first = firstOfEachAttempt();
    assert.deepEqual(
      [...first.keys()].filter((k) => k.endsWith(":289782451:1")).sort(),
      ["job:289782451:1", "run:289782451:1"],
      "the examples as they are name one run attempt and one job attempt",
    );
    assert.equal(first.size, 2 + 8, "plus one attempt for each copy with ids of its own");
    await srv.waitForEmf(first.size);
    await srv.waitIdle(); // every delivery processed: nothing more is coming
    const records = srv.emfRecords();
    assert.equal(records.length, first.size, `EMF lines: ${records.map((r) => r.DeliveryId).join(", ")}`);
    assert.deepEqual(
      records.map((r) => r.DeliveryId).sort(),
      [...first.values()].map((s) => s.delivery).sort(),
      "one record for the first delivery of each attempt (DeliveryId), none for the later copies",
    );
    for (const rec of records) {
      const s = [...first.values()].find((x) => x.delivery === rec.DeliveryId);
      const key = rec.RecordType === "job" ? `job:${rec.JobId}:${rec.RunAttempt}` : `run:${rec.RunId}:${rec.RunAttempt}`;
      assert.equal(key, attemptKey(s.ex.payload), `the record of ${rec.DeliveryId} names its delivery's attempt`);
    }
  });

  test("run records: RunDuration 0 s, RunQueueDelay 25 s, Team platform, completion timestamp", () => {
    const byId = new Map(srv.emfRecords().map((r) => [r.DeliveryId, r]));
    const runs = [...firstOfEachAttempt().values()].filter((s) => s.ex.event === "workflow_run");
    assert.equal(runs.length, 5, "run 289782451 attempt 1, and the four copies with ids of their own");
    const [examples, ...fresh] = runs;
    assert.equal(examples.fresh, undefined);
    assert.equal(examples.ex.index, 1, "the run as the examples name it is recorded from its first delivery");
    assert.equal(examples.encoding, "json");
    assert.equal(byId.get(examples.delivery)?.RunId, RUN.RunId);
    assert.deepEqual(fresh.map((s) => s.encoding), ["json", "json", "form", "form"]);
    for (const s of runs) {
      const rec = byId.get(s.delivery);
      assert.ok(rec, `a record for ${s.ex.label} (${s.encoding})`);
      assertRun(rec, s.delivery, s.ex.payload);
    }
  });

  test("job records: JobDuration 198 s, JobQueueTime 60 s, BillableMinutes 4, JobFailed from the conclusion", () => {
    const byId = new Map(srv.emfRecords().map((r) => [r.DeliveryId, r]));
    const jobs = [...firstOfEachAttempt().values()].filter((s) => s.ex.event === "workflow_job");
    assert.equal(jobs.length, 5, "job 289782451 attempt 1, and the four copies with ids of their own");
    const [examples, ...fresh] = jobs;
    // Job 289782451 attempt 1 comes first as the failure (workflow_job[1]); the success
    // (workflow_job[2]) and both form copies are later deliveries of the same attempt.
    assert.equal(examples.fresh, undefined);
    assert.equal(examples.ex.index, 1);
    assert.equal(examples.encoding, "json");
    assert.equal(examples.ex.payload.workflow_job.conclusion, "failure");
    assert.equal(byId.get(examples.delivery)?.JobId, JOB.JobId);
    assert.deepEqual(
      fresh.map((s) => `${s.encoding} ${s.ex.payload.workflow_job.conclusion}`),
      ["json failure", "json success", "form failure", "form success"],
    );
    for (const s of jobs) {
      const rec = byId.get(s.delivery);
      assert.ok(rec, `a record for ${s.ex.label} (${s.encoding})`);
      assertJob(rec, s.delivery, s.ex.payload);
    }
  });

  test("/metrics counts every delivery by event and outcome, the records written and the duplicates", async () => {
    const m = await srv.waitIdle();
    const count = (event) => sent.filter((s) => s.ex.event === event).length;
    const D = "gha_metrics_deliveries_total";
    assert.equal(m.get(D, { event: "ping", outcome: "accepted" }), count("ping"), m.text);
    assert.equal(m.get(D, { event: "workflow_run", outcome: "accepted" }), count("workflow_run"), m.text);
    assert.equal(m.get(D, { event: "workflow_job", outcome: "accepted" }), count("workflow_job"), m.text);
    assert.equal(m.get(D, { event: "other", outcome: "ignored" }), OTHER_EVENTS.length, m.text);
    assert.equal(m.sum(D), sent.length, "no delivery counted under another outcome (a new id is never a duplicate)");

    // Every workflow_run / workflow_job delivery went through the spool; pings and other events do not.
    const spooled = count("workflow_run") + count("workflow_job");
    assert.equal(m.get("gha_metrics_spool_appended_total"), spooled, m.text);
    assert.equal(m.get("gha_metrics_processed_total"), spooled, m.text);

    const due = (event) => sent.filter((s) => recordDue(s.ex) && s.ex.event === event).length;
    const distinct = (event) => [...firstOfEachAttempt().values()].filter((s) => s.ex.event === event).length;
    assert.deepEqual([due("workflow_run"), distinct("workflow_run")], [8, 5]);
    assert.deepEqual([due("workflow_job"), distinct("workflow_job")], [8, 5]);
    assert.equal(m.get("gha_metrics_records_written_total", { kind: "run" }), 5, "one per distinct run attempt");
    assert.equal(m.get("gha_metrics_records_written_total", { kind: "job" }), 5, "one per distinct job attempt");
    assert.equal(m.get("gha_metrics_duplicates_total", { kind: "run" }), 3, "the later copies of run 289782451 attempt 1");
    assert.equal(m.get("gha_metrics_duplicates_total", { kind: "job" }), 3, "the later copies of job 289782451 attempt 1");
    assert.equal(m.get("gha_metrics_duplicates_total", { kind: "delivery" }), 0, "every delivery had an id of its own");
    assert.equal(m.sum(D, { outcome: "duplicate" }), 0);
    assert.equal(m.get("gha_metrics_spool_pending"), 0);
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
    await srv.waitForEmf(2);
    await srv.waitIdle();
    const records = srv.emfRecords();
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

/** /metrics before and after: .delta(name, labels), .deltaSum(name, filter). */
function diff(before, after) {
  return {
    delta: (name, labels) => after.get(name, labels) - before.get(name, labels),
    deltaSum: (name, filter) => after.sum(name, filter) - before.sum(name, filter),
    text: after.text,
  };
}

const D = "gha_metrics_deliveries_total";
const DUP = "gha_metrics_duplicates_total";
const WRITTEN = "gha_metrics_records_written_total";

describe("duplicates: the same delivery, the same attempt, another attempt", () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv?.kill();
  });

  test("the same X-GitHub-Delivery twice → 202 accepted, then 200 duplicate; one record", async () => {
    const ex = freshIds(COMPLETED_JOB());
    const before = await srv.waitIdle();
    const linesBefore = srv.emfRecords().length;

    const first = await deliver(srv.webhookUrl, { event: "workflow_job", payload: ex.payload, secret: SECRET });
    assert.equal(first.status, 202, explain(first));
    assert.deepEqual(first.json, { status: "accepted" }, explain(first));
    const again = await deliver(srv.webhookUrl, {
      event: "workflow_job", payload: ex.payload, secret: SECRET, delivery: first.delivery,
    });
    assert.equal(again.status, 200, explain(again));
    assert.match(again.headers.get("content-type") ?? "", /^application\/json\b/);
    assert.deepEqual(again.json, { status: "duplicate" }, explain(again));

    await srv.waitForEmf(linesBefore + 1);
    const m = diff(before, await srv.waitIdle());
    const records = srv.emfRecords();
    assert.equal(records.length, linesBefore + 1, "one new EMF line");
    assert.equal(records.filter((r) => r.DeliveryId === first.delivery).length, 1);
    assertJob(records.at(-1), first.delivery, ex.payload);

    assert.equal(m.delta(D, { event: "workflow_job", outcome: "accepted" }), 1, m.text);
    assert.equal(m.delta(D, { event: "workflow_job", outcome: "duplicate" }), 1, m.text);
    assert.equal(m.deltaSum(D), 2, "each copy counted once");
    assert.equal(m.delta(DUP, { kind: "delivery" }), 1, m.text);
    assert.equal(m.delta(DUP, { kind: "job" }), 0, "the copy never reached processing");
    assert.equal(m.delta(DUP, { kind: "run" }), 0);
    assert.equal(m.delta(WRITTEN, { kind: "job" }), 1);
    assert.equal(m.delta("gha_metrics_spool_appended_total"), 1, "the duplicate is not spooled");
    assert.equal(m.delta("gha_metrics_processed_total"), 1);

    const logged = srv.logs.filter((l) => l.msg === "delivery" && l.delivery === first.delivery);
    assert.deepEqual(logged.map((l) => [l.outcome, l.status]), [["accepted", 202], ["duplicate", 200]]);
  });

  for (const [kind, original] of [["job", COMPLETED_JOB], ["run", COMPLETED_RUN]]) {
    test(`the same ${kind} attempt under two delivery ids → 202 twice, one record, duplicates{kind="${kind}"} 1`, async () => {
      const ex = freshIds(original());
      const before = await srv.waitIdle();
      const linesBefore = srv.emfRecords().length;

      const answers = [];
      for (const encoding of ["json", "form"]) {
        const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, encoding, secret: SECRET });
        assert.equal(res.status, 202, explain(res));
        assert.deepEqual(res.json, { status: "accepted" }, "a new delivery id is accepted, whatever it carries");
        answers.push(res);
      }
      assert.notEqual(answers[0].delivery, answers[1].delivery);

      await srv.waitForEmf(linesBefore + 1);
      const m = diff(before, await srv.waitIdle());
      const records = srv.emfRecords().slice(linesBefore);
      assert.equal(records.length, 1, `one record for the attempt: ${records.map((r) => r.DeliveryId).join(", ")}`);
      assert.equal(records[0].DeliveryId, answers[0].delivery, "the first delivery of the attempt is recorded");
      if (kind === "job") assertJob(records[0], answers[0].delivery, ex.payload);
      else assertRun(records[0], answers[0].delivery, ex.payload);

      const event = `workflow_${kind}`;
      assert.equal(m.delta(D, { event, outcome: "accepted" }), 2, m.text);
      assert.equal(m.deltaSum(D, { outcome: "duplicate" }), 0, "neither delivery is a duplicate delivery");
      assert.equal(m.delta(DUP, { kind }), 1, m.text);
      assert.equal(m.delta(DUP, { kind: kind === "job" ? "run" : "job" }), 0, m.text);
      assert.equal(m.delta(DUP, { kind: "delivery" }), 0, m.text);
      assert.equal(m.delta(WRITTEN, { kind }), 1, m.text);
      assert.equal(m.deltaSum(WRITTEN), 1, m.text);
      assert.equal(m.delta("gha_metrics_processed_total"), 2, "both were spooled and processed");
    });
  }

  test("another run_attempt of the same run or job → a record of its own", async () => {
    const run1 = freshIds(COMPLETED_RUN());
    const run2 = freshIds(COMPLETED_RUN(), { id: run1.payload.workflow_run.id, attempt: 2 });
    const job1 = freshIds(COMPLETED_JOB());
    const job2 = freshIds(COMPLETED_JOB(), {
      id: job1.payload.workflow_job.id, runId: job1.payload.workflow_job.run_id, attempt: 2,
    });
    assert.equal(run1.payload.workflow_run.run_attempt, 1);
    assert.equal(job1.payload.workflow_job.run_attempt, 1);
    const before = await srv.waitIdle();
    const linesBefore = srv.emfRecords().length;

    const sentNow = [];
    for (const ex of [run1, run2, job1, job2]) {
      const res = await deliver(srv.webhookUrl, { event: ex.event, payload: ex.payload, secret: SECRET });
      assert.equal(res.status, 202, explain(res));
      sentNow.push({ ex, delivery: res.delivery });
    }

    await srv.waitForEmf(linesBefore + 4);
    const m = diff(before, await srv.waitIdle());
    const records = srv.emfRecords().slice(linesBefore);
    assert.equal(records.length, 4, "one record per attempt");
    const byDelivery = new Map(records.map((r) => [r.DeliveryId, r]));
    for (const { ex, delivery } of sentNow) {
      const rec = byDelivery.get(delivery);
      assert.ok(rec, `a record for ${ex.label}`);
      if (ex.event === "workflow_run") assertRun(rec, delivery, ex.payload);
      else assertJob(rec, delivery, ex.payload);
    }
    assert.deepEqual(
      records.map((r) => [r.RecordType, r.RecordType === "job" ? r.JobId : r.RunId, r.RunAttempt]),
      [
        ["run", run1.payload.workflow_run.id, 1],
        ["run", run1.payload.workflow_run.id, 2],
        ["job", job1.payload.workflow_job.id, 1],
        ["job", job1.payload.workflow_job.id, 2],
      ],
    );
    assert.equal(m.delta(WRITTEN, { kind: "run" }), 2, m.text);
    assert.equal(m.delta(WRITTEN, { kind: "job" }), 2, m.text);
    assert.equal(m.deltaSum(DUP), 0, "no duplicate of any kind");
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});

describe("redelivery after a restart on the same spool and EMF file", () => {
  let first;
  let second;
  after(async () => {
    await first?.kill();
    await second?.kill();
  });

  test("a redelivered X-GitHub-Delivery → 200 duplicate, and an attempt already recorded is not recorded again", async () => {
    first = await startServer();
    const job = freshIds(COMPLETED_JOB());
    const run = freshIds(COMPLETED_RUN());
    const accepted = [];
    for (const ex of [job, run]) {
      const res = await deliver(first.webhookUrl, { event: ex.event, payload: ex.payload, secret: SECRET });
      assert.equal(res.status, 202, explain(res));
      accepted.push({ ex, delivery: res.delivery });
    }
    await first.waitForEmf(2);
    await first.waitIdle();
    assert.deepEqual(first.emfRecords().map((r) => r.DeliveryId), accepted.map((a) => a.delivery));
    await first.stop("SIGTERM");

    second = await restartServer(first);
    assert.equal(second.dir, first.dir);
    assert.equal(second.emfPath, first.emfPath);
    const start = await second.waitIdle();
    assert.equal(start.get("gha_metrics_spool_recovered_total"), 0, "SIGTERM left nothing unprocessed");
    assert.equal(start.get("gha_metrics_ledger_entries"), 4, `2 delivery ids + 2 attempts remembered\n${start.text}`);

    // GitHub's "Redeliver": the same id, the same body.
    for (const { ex, delivery } of accepted) {
      const res = await deliver(second.webhookUrl, { event: ex.event, payload: ex.payload, secret: SECRET, delivery });
      assert.equal(res.status, 200, explain(res));
      assert.deepEqual(res.json, { status: "duplicate" }, explain(res));
    }
    // The run attempt again under a new delivery id: accepted, but not recorded twice.
    const copy = await deliver(second.webhookUrl, { event: "workflow_run", payload: run.payload, secret: SECRET });
    assert.equal(copy.status, 202, explain(copy));
    assert.deepEqual(copy.json, { status: "accepted" });

    const m = await second.waitIdle();
    assert.equal(m.get("gha_metrics_processed_total"), 1, "only the new delivery id was spooled and processed");
    const records = second.emfRecords();
    assert.deepEqual(records.map((r) => r.DeliveryId), accepted.map((a) => a.delivery), "no new EMF line");
    assert.equal(m.get(D, { event: "workflow_job", outcome: "duplicate" }), 1, m.text);
    assert.equal(m.get(D, { event: "workflow_run", outcome: "duplicate" }), 1, m.text);
    assert.equal(m.get(D, { event: "workflow_run", outcome: "accepted" }), 1, m.text);
    assert.equal(m.get(DUP, { kind: "delivery" }), 2, m.text);
    assert.equal(m.get(DUP, { kind: "run" }), 1, m.text);
    assert.equal(m.get(DUP, { kind: "job" }), 0, m.text);
    assert.equal(m.sum(WRITTEN), 0, m.text);
    await second.stop("SIGTERM");
  });
});
