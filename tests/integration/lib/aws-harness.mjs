// Helpers for the CloudWatch publishing tests (publish.test.mjs): the AWS
// stand-in (tests/servers/aws.mjs) in this process, a clean AWS environment for
// gha-metrics, deliveries with known durations and completion times, and the
// oracle: the datums CloudWatch must end up with, computed from the deliveries
// alone (never from what the server wrote), compared as multisets with what the
// stand-in accepted.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

import { DEFAULT_CREDENTIAL, startAws } from "../../servers/aws.mjs";
import { SECRET, deliver, example, explain, freshIds, summary, tempDir } from "./harness.mjs";

export { DEFAULT_CREDENTIAL };

// ------------------------------------------------------------ stand-in ----

const standIns = new Set();

/** Starts the AWS stand-in on a loopback port (closed by closeAll() / at the end of the test). */
export async function startStandIn(opts = {}) {
  const aws = await startAws({ host: "127.0.0.1", port: 0, ...opts });
  standIns.add(aws);
  return aws;
}

export async function closeStandIn(aws) {
  if (!aws || !standIns.has(aws)) return;
  standIns.delete(aws);
  await aws.close();
}

export async function closeAllStandIns() {
  await Promise.all([...standIns].map(closeStandIn));
}

// --------------------------------------------------------- environment ----

const PROXY_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

/**
 * The environment for gha-metrics (startServer's `env`, merged over process.env): every AWS_* variable
 * of the developer's environment removed (an undefined value is left out by spawn), the shared
 * credentials and config files pointed at paths that do not exist, IMDS disabled, no proxy for the
 * loopback stand-in. `extra` is applied last: an undefined value removes a variable again (e.g.
 * AWS_EC2_METADATA_DISABLED to test IMDS).
 */
export function awsEnv(extra = {}) {
  const nowhere = path.join(tempDir("gm-noaws-"), "does-not-exist");
  const env = {};
  for (const k of Object.keys(process.env)) if (/^AWS_/i.test(k)) env[k] = undefined;
  for (const k of PROXY_VARS) env[k] = undefined;
  Object.assign(env, {
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
    AWS_SHARED_CREDENTIALS_FILE: path.join(nowhere, "credentials"),
    AWS_CONFIG_FILE: path.join(nowhere, "config"),
    AWS_EC2_METADATA_DISABLED: "true",
  });
  return Object.assign(env, extra);
}

/** awsEnv with long-term keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and a session token when given). */
export function keyEnv(cred = DEFAULT_CREDENTIAL, extra = {}) {
  return awsEnv({
    AWS_ACCESS_KEY_ID: cred.accessKeyId,
    AWS_SECRET_ACCESS_KEY: cred.secretAccessKey,
    ...(cred.sessionToken ? { AWS_SESSION_TOKEN: cred.sessionToken } : {}),
    ...extra,
  });
}

export const DEFAULT_DIMENSIONS = [["Repository", "Workflow"], ["Repository"], ["Team"], []];
export const TEAMS = { platform: ["octo-org/octo-repo", "octo-org/octo-lib"] };

/** startServer `config` overrides for a remote sink talking to the stand-in. */
export function publishConfig(aws, publish = {}, extra = {}) {
  return {
    publish: {
      sink: "cloudwatch",
      namespace: "GitHubActions",
      region: aws.region,
      endpoint: aws.url,
      flush_interval: "1s",
      max_backlog_age: "5s",
      dimensions: DEFAULT_DIMENSIONS,
      ...publish,
    },
    teams: TEAMS,
    ...extra,
  };
}

/** spool.dir/publish-<sink> of a server. */
export function publishDir(srv, sink = srv.config.publish.sink) {
  return path.join(srv.config.spool.dir, `publish-${sink}`);
}

/** The dead-letter file's lines, parsed (asserts each parses). */
export function deadLetters(srv, sink) {
  const file = path.join(publishDir(srv, sink), "dead-letter.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (err) {
      throw new Error(`dead-letter line ${i + 1} is not JSON (${err.message}): ${l.slice(0, 200)}`);
    }
  });
}

/** Names of the request files waiting in spool.dir/publish-<sink>/inflight. */
export function inflightFiles(srv, sink) {
  const dir = path.join(publishDir(srv, sink), "inflight");
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith("req-")).sort() : [];
}

// ---------------------------------------------------------- deliveries ----

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const RUN_TEMPLATE = example("workflow_run", (e) => e.action === "completed" && e.payload.workflow_run.status === "completed");
const JOB_TEMPLATE = example("workflow_job", (e) => e.action === "completed" && e.payload.workflow_job.conclusion === "success");
const FAILED = new Set(["failure", "timed_out", "startup_failure"]);

/** The start of the minute holding ms. */
export const minuteOf = (ms) => ms - (ms % 60_000);

/**
 * A completed workflow_run delivery with known numbers (times in ms, whole seconds):
 * { event, payload, record } where record is what the metric contract says it must become.
 */
export function runDelivery({ repo = "octo-org/octo-repo", workflow = "build", created, started, completed, conclusion = "success" }) {
  const p = freshIds(RUN_TEMPLATE).payload;
  p.repository.full_name = repo;
  const r = p.workflow_run;
  Object.assign(r, { name: workflow, conclusion, status: "completed", run_attempt: 1, created_at: iso(created), run_started_at: iso(started), updated_at: iso(completed) });
  return {
    event: "workflow_run",
    payload: p,
    record: {
      kind: "run", id: r.id, repo, workflow, completed,
      metrics: [
        ["RunDuration", "Seconds", (completed - started) / 1000],
        ["RunQueueDelay", "Seconds", (started - created) / 1000],
        ["RunCompleted", "Count", 1],
        ["RunFailed", "Count", FAILED.has(conclusion) ? 1 : 0],
      ],
    },
  };
}

/** A completed workflow_job delivery on a GitHub-hosted Linux runner (ubuntu-latest), with known numbers. */
export function jobDelivery({ repo = "octo-org/octo-repo", workflow = "build", name = "test", created, started, completed, conclusion = "success" }) {
  const p = freshIds(JOB_TEMPLATE).payload;
  p.repository.full_name = repo;
  const j = p.workflow_job;
  Object.assign(j, { name, workflow_name: workflow, conclusion, status: "completed", run_attempt: 1, labels: ["ubuntu-latest"], created_at: iso(created), started_at: iso(started), completed_at: iso(completed) });
  const duration = (completed - started) / 1000;
  return {
    event: "workflow_job",
    payload: p,
    record: {
      kind: "job", id: j.id, repo, workflow, completed,
      metrics: [
        ["JobDuration", "Seconds", duration],
        ["JobQueueTime", "Seconds", (started - created) / 1000],
        ["JobCompleted", "Count", 1],
        ["JobFailed", "Count", FAILED.has(conclusion) ? 1 : 0],
        ["BillableMinutes", "Count", conclusion === "skipped" || duration <= 0 ? 0 : Math.ceil(duration / 60)],
      ],
    },
  };
}

/**
 * `count` deliveries alternating runs and jobs of a few repositories, completing at
 * `completedAt(i)` (ms) with durations that differ by index (so Values/Counts have both
 * repeated and distinct values).
 */
export function mixedDeliveries(count, { completedAt, repos = ["octo-org/octo-repo", "Codertocat/Hello-World"], workflow = "ci" }) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const completed = completedAt(i);
    const duration = 60_000 + (i % 3) * 30_000;
    const queue = 5_000 * (1 + (i % 2));
    const args = {
      repo: repos[i % repos.length], workflow, completed, started: completed - duration, created: completed - duration - queue,
      conclusion: i % 4 === 3 ? "failure" : "success",
    };
    out.push(i % 2 === 0 ? runDelivery(args) : jobDelivery(args));
  }
  return out;
}

/** POSTs every delivery (a few at a time), asserting each is answered 202. Returns the answers. */
export async function sendAll(srv, deliveries, { parallel = 8 } = {}) {
  const answers = [];
  for (let i = 0; i < deliveries.length; i += parallel) {
    const chunk = deliveries.slice(i, i + parallel);
    answers.push(...(await Promise.all(chunk.map((d) => deliver(srv.webhookUrl, { event: d.event, payload: d.payload, secret: SECRET })))));
  }
  for (const res of answers) assert.equal(res.status, 202, `delivery not accepted: ${explain(res)}\n${summary(srv)}`);
  return answers;
}

// -------------------------------------------------------------- oracle ----

function teamOf(repo, teams) {
  if (!teams) return null;
  for (const [team, repos] of Object.entries(teams)) if (repos.some((r) => r.toLowerCase() === repo.toLowerCase())) return team;
  return "unassigned";
}

function datumKey(namespace, metricName, unit, dims, minute) {
  const d = Object.entries(dims).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(",");
  return `${namespace} ${metricName} ${unit} {${d}} ${new Date(minute).toISOString()}`;
}

function addSample(map, key, sample, value, count) {
  if (!map.has(key)) map.set(key, { ...sample, samples: new Map(), datums: 0 });
  const e = map.get(key);
  e.samples.set(value, (e.samples.get(value) ?? 0) + count);
  return e;
}

/**
 * The datums the metric contract says CloudWatch must receive for these records, merged per
 * (namespace, metric, unit, dimensions, minute): Map key → { metricName, unit, dimensions, timestamp,
 * samples: Map value → count }.
 */
export function expectedDatums(records, { namespace = "GitHubActions", dimensions = DEFAULT_DIMENSIONS, teams = TEAMS } = {}) {
  const out = new Map();
  for (const r of records) {
    const values = { Repository: r.repo, Workflow: r.workflow };
    const team = teamOf(r.repo, teams);
    if (team) values.Team = team;
    const minute = minuteOf(r.completed);
    for (const set of dimensions) {
      if (set.some((n) => !(n in values))) continue;
      const dims = Object.fromEntries(set.map((n) => [n, values[n]]));
      for (const [metricName, unit, value] of r.metrics) {
        addSample(out, datumKey(namespace, metricName, unit, dims, minute), { namespace, metricName, unit, dimensions: dims, timestamp: minute }, value, 1);
      }
    }
  }
  return out;
}

/**
 * The stand-in's accepted datums in the same shape; `datums` counts the datums that carried each key.
 * `only(request)` keeps the accepted PutMetricData requests to count (e.g. those signed with one key).
 */
export function receivedDatums(aws, only = () => true) {
  const out = new Map();
  const all = aws.received().filter(only).flatMap((r) => r.datums.map((d) => ({ namespace: r.namespace, ...d })));
  for (const d of all) {
    const pairs = d.value !== undefined ? [[d.value, 1]] : d.values.map((v, i) => [v, d.counts ? d.counts[i] : 1]);
    const key = datumKey(d.namespace, d.metricName, d.unit, d.dimensions, d.timestamp);
    let e;
    for (const [v, c] of pairs) e = addSample(out, key, { namespace: d.namespace, metricName: d.metricName, unit: d.unit, dimensions: d.dimensions, timestamp: d.timestamp }, v, c);
    e.datums++;
  }
  return out;
}

const fmt = (samples) => `{${[...samples].sort((a, b) => a[0] - b[0]).map(([v, c]) => `${v}×${c}`).join(", ")}}`;

/** Every difference between two datum maps, as text ([] when they hold the same multisets). */
export function diffDatums(expected, received) {
  const problems = [];
  for (const [key, e] of expected) {
    const r = received.get(key);
    if (!r) {
      problems.push(`missing: ${key} ${fmt(e.samples)}`);
      continue;
    }
    const values = new Set([...e.samples.keys(), ...r.samples.keys()]);
    for (const v of values) {
      const want = e.samples.get(v) ?? 0;
      const got = r.samples.get(v) ?? 0;
      if (want !== got) problems.push(`${got > want ? "extra" : "missing"}: ${key} value ${v}: ${got} received, ${want} expected (expected ${fmt(e.samples)}, received ${fmt(r.samples)})`);
    }
  }
  for (const [key, r] of received) if (!expected.has(key)) problems.push(`unexpected: ${key} ${fmt(r.samples)}`);
  return problems;
}

const sampleCount = (map) => [...map.values()].reduce((n, e) => n + [...e.samples.values()].reduce((a, c) => a + c, 0), 0);

/** True once the stand-in holds at least as many samples as expected (then compare exactly). */
export function arrived(aws, expected, only) {
  return sampleCount(receivedDatums(aws, only)) >= sampleCount(expected);
}

/** Asserts the stand-in received exactly the expected datums (each sample once); returns the received map. */
export function assertExactlyOnce(aws, expected, srv, what = "datums", only) {
  const received = receivedDatums(aws, only);
  const problems = diffDatums(expected, received);
  if (problems.length > 0) {
    assert.fail(
      `${what}: ${problems.length} difference(s) between the datums CloudWatch must hold and what the stand-in accepted ` +
        `(first ${Math.min(problems.length, 12)}):\n  ${problems.slice(0, 12).join("\n  ")}` +
        `\n--- stand-in counts ---\n${JSON.stringify(aws.counts())}` + (srv ? `\n--- gha-metrics stderr ---\n${summary(srv)}` : ""),
    );
  }
  return received;
}

/**
 * Asserts the stand-in refused nothing except what the test caused: every data request was accepted,
 * or its outcome is in `allow` (e.g. "outage", "throttled", "abandoned"), or its error code is in
 * `allowCodes`. Signatures, shapes and limits are checked by the stand-in, so "accepted" means valid.
 */
export function assertNoRejected(aws, { allow = [], allowCodes = [] } = {}) {
  const bad = aws.requests().filter((r) => r.outcome !== "accepted" && !allow.includes(r.outcome) && !(r.code && allowCodes.includes(r.code)));
  assert.deepEqual(
    bad.map((r) => `#${r.seq} ${r.operation}: ${r.outcome} ${r.status} ${r.code}: ${r.message}${r.canonicalRequest ? `\n  canonical request:\n${r.canonicalRequest}` : ""}`),
    [],
    "the stand-in refused requests the server sent",
  );
}

/** The publisher's /metrics series for one sink, by short name (requests_ok, items, ...). */
export async function publishMetrics(srv, sink = srv.config.publish.sink) {
  const m = await srv.metrics();
  const s = { sink };
  return {
    m,
    requests_ok: m.get("gha_metrics_publish_requests_total", { ...s, outcome: "ok" }),
    requests_failed: m.get("gha_metrics_publish_requests_total", { ...s, outcome: "failed" }),
    datums: m.get("gha_metrics_publish_items_total", { ...s, kind: "datums" }),
    events: m.get("gha_metrics_publish_items_total", { ...s, kind: "events" }),
    bytes: m.get("gha_metrics_publish_bytes_total", s),
    retries: m.get("gha_metrics_publish_retries_total", s),
    throttles: m.get("gha_metrics_publish_throttles_total", s),
    auth_errors: m.get("gha_metrics_publish_auth_errors_total", s),
    dead_letters: m.get("gha_metrics_publish_dead_letters_total", s),
    backlog_age: m.get("gha_metrics_publish_backlog_age_seconds", s),
    cost: m.get("gha_metrics_publish_estimated_cost_usd_total", s),
    series: m.get("gha_metrics_publish_series", s),
    seriesCost: m.get("gha_metrics_publish_series_cost_usd_per_month", s),
    outbox_bytes: m.get("gha_metrics_publish_outbox_bytes", s),
    errors: (code) => m.get("gha_metrics_publish_errors_total", { ...s, code }),
    has: (name) => m.has(name),
  };
}

/** GET /readyz → { status, json } */
export async function readyz(srv) {
  const res = await srv.get("/readyz");
  return { status: res.status, json: res.json, text: res.text };
}
