// The CloudWatch publisher (issue 4), black-box: the real gha-metrics binary
// receives signed deliveries and publishes to the AWS stand-in
// (tests/servers/aws.mjs), which verifies every SigV4 signature, the JSON
// shape and every CloudWatch limit, and records what it accepted. The
// expected datums are computed from the deliveries alone (the metric
// contract: names, units, dimension sets, Team from `teams`, the completion
// minute) and compared as multisets of samples with what the stand-in
// accepted, so a lost or a doubled sample fails.
//
//   1. deliveries in → exact datums out, merged per minute into Values/Counts, in ONE request
//   2. every request the server sends is accepted (checked at the end of every test)
//   3. a 5 s outage (503): deliveries still 202, /readyz degraded, retries counted, then exactly once
//   4. throttling (400 Throttling ×3, 429 ×1): retried, counted, exactly once
//   5. kill -9 with a request in flight (hung) / with lines in the outbox not yet flushed → exactly once
//   6. a wrong secret: 403s, auth errors counted, a clear error, the secret never logged, backlog kept;
//      restart with the right key → the backlog arrives once
//   7. credentials from a session token, the container endpoint and IMDSv2
//   8. dead letters: a 2021 example (outside the window) and datums CloudWatch refuses (bisected)
//   9. emf-logs: PutLogEvents in time order, the group/stream created (and re-created), the EMF header
//  10. SIGTERM sends what is confirmed before exiting

import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";

import { example, freshIds, restartServer, startServer, summary, waitFor } from "./lib/harness.mjs";
import {
  DEFAULT_CREDENTIAL,
  DEFAULT_DIMENSIONS,
  arrived,
  assertExactlyOnce,
  assertNoRejected,
  awsEnv,
  closeAllStandIns,
  deadLetters,
  expectedDatums,
  inflightFiles,
  jobDelivery,
  keyEnv,
  minuteOf,
  mixedDeliveries,
  publishConfig,
  publishDir,
  publishMetrics,
  readyz,
  receivedDatums,
  runDelivery,
  sendAll,
  startStandIn,
} from "./lib/aws-harness.mjs";

const servers = [];
async function start(opts) {
  const srv = await startServer(opts);
  servers.push(srv);
  return srv;
}
async function restart(srv, overrides) {
  const s = await restartServer(srv, overrides);
  servers.push(s);
  return s;
}
afterEach(async () => {
  for (const s of servers.splice(0)) if (!s.exit) await s.kill();
  await closeAllStandIns();
});

const records = (ds) => ds.map((d) => d.record);
const wait = (fn, what, timeoutMs = 20_000, srv) =>
  waitFor(fn, { timeoutMs, intervalMs: 50, what }).catch((err) => {
    if (srv) err.message += `\n--- gha-metrics stderr ---\n${summary(srv)}`;
    throw err;
  });

/** Waits until the stand-in holds every expected sample, then asserts exactly once. */
async function expectDelivered(aws, expected, srv, what, { timeoutMs = 20_000, only } = {}) {
  await wait(() => arrived(aws, expected, only), `${what}: every expected datum at the stand-in (counts ${JSON.stringify(aws.counts())})`, timeoutMs, srv);
  return assertExactlyOnce(aws, expected, srv, what, only);
}

/** A few records ending a few minutes ago, in minutes of their own (so that tests do not depend on one another). */
function recent(count, { minutesAgo = 4, repos, workflow } = {}) {
  const base = minuteOf(Date.now()) - minutesAgo * 60_000;
  return mixedDeliveries(count, { completedAt: (i) => base + 2_000 + i * 1_000, repos, workflow });
}

/**
 * Sends a last delivery and waits for its datums: lines leave the outbox in order, so once the
 * sentinel has arrived, any duplicate of an earlier line would have been sent too.
 */
async function sentinel(aws, srv, all, tag) {
  const s = runDelivery({ repo: `octo-org/sentinel-${tag}`, workflow: "sentinel", completed: minuteOf(Date.now()) - 60_000, started: minuteOf(Date.now()) - 120_000, created: minuteOf(Date.now()) - 125_000 });
  await sendAll(srv, [s]);
  all.push(s);
  const mine = expectedDatums([s.record]);
  const key = [...mine.keys()][0];
  await wait(() => receivedDatums(aws).has(key), `the sentinel ${tag} at the stand-in`, 20_000, srv);
}

describe("CloudWatch publishing (publish.sink: cloudwatch)", () => {
  test("1+2. deliveries in → exact datums out: merged per minute into Values/Counts, every set incl. Team, one request", async () => {
    const aws = await startStandIn();
    // flush_interval 2s: the burst below is read within one checkpoint (≈1 s) of the first line.
    const srv = await start({ config: publishConfig(aws, { flush_interval: "2s" }), env: keyEnv() });
    // The developer's AWS settings do not leak into the server: exactly the variables the harness set.
    if (existsSync(`/proc/${srv.pid}/environ`)) {
      const awsVars = readFileSync(`/proc/${srv.pid}/environ`, "utf8").split("\0").filter((v) => /^AWS_/i.test(v)).map((v) => v.split("=")[0]).sort();
      assert.deepEqual(awsVars, ["AWS_ACCESS_KEY_ID", "AWS_CONFIG_FILE", "AWS_EC2_METADATA_DISABLED", "AWS_SECRET_ACCESS_KEY", "AWS_SHARED_CREDENTIALS_FILE"]);
    }
    const M = minuteOf(Date.now()) - 5 * 60_000; // every record of the burst completes in minute M …
    const M2 = M - 2 * 60_000; // … or in M2
    const at = (m, s) => m + s * 1000;
    const ds = [
      // Four runs of octo-org/octo-repo "build" in minute M: durations 100, 100, 130, 160 s; queue 20, 20, 5, 20 s; one failed.
      runDelivery({ completed: at(M, 5), started: at(M, 5 - 100), created: at(M, 5 - 120) }),
      runDelivery({ completed: at(M, 12), started: at(M, 12 - 100), created: at(M, 12 - 120) }),
      runDelivery({ completed: at(M, 30), started: at(M, 30 - 130), created: at(M, 30 - 135), conclusion: "failure" }),
      runDelivery({ completed: at(M, 59), started: at(M, 59 - 160), created: at(M, 59 - 180) }),
      // Another repository of the same team, another workflow, same minute.
      runDelivery({ repo: "octo-org/octo-lib", workflow: "release", completed: at(M, 40), started: at(M, 40 - 70), created: at(M, 40 - 71) }),
      // An unmapped repository (Team "unassigned"), two minutes earlier.
      runDelivery({ repo: "Codertocat/Hello-World", workflow: "CodeQL", completed: at(M2, 1), started: at(M2, 1 - 45), created: at(M2, 1 - 50), conclusion: "timed_out" }),
      // Jobs: three of octo-org/octo-repo "build" in M (120 s → 2 billable minutes, 61 s → 2, 59 s → 1), one failed job elsewhere.
      jobDelivery({ completed: at(M, 10), started: at(M, 10 - 120), created: at(M, 10 - 130) }),
      jobDelivery({ completed: at(M, 20), started: at(M, 20 - 61), created: at(M, 20 - 71) }),
      jobDelivery({ completed: at(M, 50), started: at(M, 50 - 59), created: at(M, 50 - 89), name: "lint" }),
      jobDelivery({ repo: "Codertocat/Hello-World", workflow: "CodeQL", completed: at(M2, 30), started: at(M2, 30 - 200), created: at(M2, 30 - 203), conclusion: "failure" }),
    ];
    await sendAll(srv, ds);
    const expected = expectedDatums(records(ds));
    const received = await expectDelivered(aws, expected, srv, "burst");

    // Merging: one datum per (metric, dimension values, unit, minute) — never one per run.
    const split = [...received].filter(([, r]) => r.datums !== 1).map(([k, r]) => `${k}: ${r.datums} datums`);
    assert.deepEqual(split, [], "a small burst must give exactly one datum per metric, dimension set and minute");

    // The exact datums, as sent.
    const raw = aws.datums();
    const one = (metricName, dimensions, timestamp) => {
      const found = raw.filter((d) => d.metricName === metricName && d.timestamp === timestamp && JSON.stringify(d.dimensions) === JSON.stringify(dimensions));
      assert.equal(found.length, 1, `one ${metricName} ${JSON.stringify(dimensions)} datum at ${new Date(timestamp).toISOString()}: ${JSON.stringify(found)}`);
      return found[0];
    };
    const pairs = (d) => (d.value !== undefined ? [[d.value, 1]] : d.values.map((v, i) => [v, d.counts[i]])).sort((a, b) => a[0] - b[0]);
    const repoWf = { Repository: "octo-org/octo-repo", Workflow: "build" };
    let d = one("RunDuration", repoWf, M);
    assert.equal(d.unit, "Seconds");
    assert.deepEqual(pairs(d), [[100, 2], [130, 1], [160, 1]], "RunDuration: Values [100,130,160] with Counts [2,1,1]");
    assert.deepEqual(pairs(one("RunQueueDelay", repoWf, M)), [[5, 1], [20, 3]]);
    d = one("RunCompleted", repoWf, M);
    assert.equal(d.unit, "Count");
    assert.deepEqual([d.values, d.counts], [[1], [4]], "4 runs in one minute → RunCompleted Values [1] Counts [4]");
    assert.deepEqual(pairs(one("RunFailed", repoWf, M)), [[0, 3], [1, 1]]);
    assert.deepEqual(pairs(one("RunCompleted", { Team: "platform" }, M)), [[1, 5]], "Team platform: octo-repo and octo-lib");
    assert.deepEqual(pairs(one("RunCompleted", {}, M)), [[1, 5]], "the organisation-wide set");
    assert.deepEqual(pairs(one("RunDuration", { Repository: "octo-org/octo-lib", Workflow: "release" }, M)), [[70, 1]]);
    d = one("RunDuration", { Repository: "Codertocat/Hello-World", Workflow: "CodeQL" }, M2);
    assert.deepEqual([d.value, d.values], [45, undefined], "a single sample is sent as Value");
    assert.equal(one("RunFailed", { Team: "unassigned" }, M2).value, 1, "timed_out counts as failed; unmapped repository → Team unassigned");
    assert.deepEqual(pairs(one("JobDuration", repoWf, M)), [[59, 1], [61, 1], [120, 1]]);
    assert.deepEqual(pairs(one("BillableMinutes", repoWf, M)), [[1, 1], [2, 2]], "ceil(minutes) on Linux");
    assert.deepEqual(pairs(one("JobQueueTime", { Team: "platform" }, M)), [[10, 2], [30, 1]]);
    assert.equal(one("JobFailed", { Repository: "Codertocat/Hello-World" }, M2).value, 1);
    assert.equal(one("JobDuration", {}, M2).value, 200);
    for (const x of raw) {
      assert.equal(x.namespace, "GitHubActions");
      assert.ok(x.storageResolution === null || x.storageResolution === 60, `standard resolution: ${JSON.stringify(x)}`);
      assert.ok(x.timestamp === M || x.timestamp === M2, `Timestamp is the completion minute: ${JSON.stringify(x)}`);
      const names = x.dimensionList.map((e) => e.Name);
      assert.ok(DEFAULT_DIMENSIONS.some((set) => JSON.stringify(set) === JSON.stringify(names)), `dimensions are a configured set, in order: ${names}`);
    }
    // Every configured set for every metric: 4 sets × 9 metrics in M (both teams' repos are "platform"), and in M2.
    assert.equal(raw.length, expected.size, "datums sent");

    // Requests: the lower bound (1,000 datums and 1 MB a request) is one request for this burst.
    const req = aws.received();
    const bytes = req.reduce((n, r) => n + r.bytes, 0);
    const lowerBound = Math.max(Math.ceil(raw.length / 1000), Math.ceil(bytes / 1_000_000));
    assert.equal(req.length, lowerBound, `PutMetricData requests: ${req.length}, lower bound ${lowerBound}`);
    for (const r of req) {
      assert.equal(r.accessKeyId, DEFAULT_CREDENTIAL.accessKeyId);
      assert.equal(r.sessionToken, false);
      assert.equal(r.headers["x-amz-target"], "GraniteServiceVersion20100801.PutMetricData");
      assert.match(r.headers["content-type"], /^application\/x-amz-json-1\.0/);
      assert.match(r.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/monitoring\/aws4_request, SignedHeaders=[^,]*host[^,]*x-amz-date/);
    }

    // 2. Nothing refused: signatures, shapes and limits as AWS checks them.
    assertNoRejected(aws);

    const pm = await wait(async () => { const p = await publishMetrics(srv); return p.requests_ok === 1 && p; }, "/metrics to count the request");
    assert.deepEqual(
      { ok: pm.requests_ok, failed: pm.requests_failed, datums: pm.datums, bytes: pm.bytes, retries: pm.retries, throttles: pm.throttles, auth: pm.auth_errors, dead: pm.dead_letters, events: pm.events },
      { ok: 1, failed: 0, datums: raw.length, bytes, retries: 0, throttles: 0, auth: 0, dead: 0, events: 0 },
    );
    assert.ok(Math.abs(pm.cost - 0.01 / 1000) < 1e-9, `estimated cost of one PutMetricData: ${pm.cost}`);
    // Each distinct namespace + metric + dimension values is a billed custom metric.
    const series = new Set(aws.datums().map((d) => JSON.stringify([d.namespace, d.metricName, d.dimensionList])));
    assert.equal(pm.series, series.size, `series: ${pm.series}, distinct in what AWS accepted: ${series.size}`);
    assert.ok(Math.abs(pm.seriesCost - series.size * 0.3) < 0.006, `series cost ${pm.seriesCost}`);
    await wait(async () => (await publishMetrics(srv)).backlog_age === 0, "backlog age 0");
    assert.equal((await readyz(srv)).json.status, "ready");
    assert.ok(pm.has("gha_metrics_publish_outbox_bytes"));
    await srv.stop();
    assert.deepEqual(inflightFiles(srv), [], "nothing left in flight");
  });

  test("3. a 5 s outage: deliveries still 202, /readyz degraded, retries counted; afterwards everything arrives once", async () => {
    const aws = await startStandIn();
    const srv = await start({ config: publishConfig(aws, { flush_interval: "1s", max_backlog_age: "2s" }), env: keyEnv() });
    const OUTAGE_MS = 5_000;
    aws.outage(OUTAGE_MS); // every data request: 503 ServiceUnavailable
    const outageEnd = Date.now() + OUTAGE_MS;
    const first = recent(6, { minutesAgo: 6 });
    await sendAll(srv, first);
    await wait(() => aws.counts().outage >= 1, "a PutMetricData refused by the outage", 10_000, srv);

    const degraded = await wait(async () => { const r = await readyz(srv); return r.json?.status === "degraded" && r; }, "/readyz degraded", 10_000, srv);
    assert.equal(degraded.status, 200, "a backlog is reported, deliveries are still taken");
    assert.ok(degraded.json.reasons.some((x) => /cloudwatch backlog is \d+ s old/.test(x) && /ServiceUnavailable/.test(x)), JSON.stringify(degraded.json));
    assert.ok((await publishMetrics(srv)).backlog_age > 2, "backlog age past publish.max_backlog_age");

    // Deliveries keep coming during the outage.
    const second = recent(6, { minutesAgo: 5, repos: ["octo-org/octo-lib", "Codertocat/Hello-World"] });
    await sendAll(srv, second);
    assert.ok(Date.now() < outageEnd && aws.pendingFaults().outageMs > 0, "the second batch was taken during the outage");
    assert.equal(aws.counts().accepted, 0, "nothing accepted during the outage");

    const all = [...first, ...second];
    await expectDelivered(aws, expectedDatums(records(all)), srv, "after the outage", { timeoutMs: 30_000 });
    await sentinel(aws, srv, all, "outage");
    assertExactlyOnce(aws, expectedDatums(records(all)), srv, "after the outage and the sentinel");

    await wait(async () => (await publishMetrics(srv)).backlog_age === 0 && (await readyz(srv)).json.status === "ready", "backlog age 0 and /readyz ready", 10_000, srv);
    const c = aws.counts();
    const pm = await publishMetrics(srv);
    assert.ok(c.outage >= 2, `several attempts during the outage: ${c.outage}`);
    assert.deepEqual(
      { failed: pm.requests_failed, retries: pm.retries, unavailable: pm.errors("ServiceUnavailable"), ok: pm.requests_ok, throttles: pm.throttles, dead: pm.dead_letters },
      { failed: c.outage, retries: c.outage, unavailable: c.outage, ok: c.accepted, throttles: 0, dead: 0 },
      "every refused attempt counted and retried",
    );
    for (const r of aws.requests()) if (r.outcome === "outage") assert.ok(r.at <= outageEnd + 50, "503s only during the outage");
    assertNoRejected(aws, { allow: ["outage"] });
    await srv.stop();
  });

  test("4. throttling (400 Throttling ×3, then 429): retried with backoff, counted, data arrives once", async () => {
    const aws = await startStandIn();
    aws.throttle(3);
    aws.throttle(1, { status: 429 });
    const srv = await start({ config: publishConfig(aws), env: keyEnv() });
    const ds = recent(8);
    await sendAll(srv, ds);
    await expectDelivered(aws, expectedDatums(records(ds)), srv, "after throttling");
    await sentinel(aws, srv, ds, "throttle");
    assertExactlyOnce(aws, expectedDatums(records(ds)), srv, "after throttling and the sentinel");
    const c = aws.counts();
    assert.equal(c.throttled, 4);
    assert.equal(c.byStatus["429"], 1, "one throttle answered 429");
    const pm = await wait(async () => { const p = await publishMetrics(srv); return p.requests_ok === c.accepted && p; }, "/metrics to catch up");
    assert.deepEqual(
      { throttles: pm.throttles, retries: pm.retries, failed: pm.requests_failed, code: pm.errors("Throttling"), auth: pm.auth_errors, dead: pm.dead_letters },
      { throttles: 4, retries: 4, failed: 4, code: 4, auth: 0, dead: 0 },
    );
    assertNoRejected(aws, { allow: ["throttled"] });
    await srv.stop();
  });

  test("5a. kill -9 while a PutMetricData is in flight: the request file is resent after restart, exactly once", async () => {
    const aws = await startStandIn();
    aws.hang(1); // the first request is read and never answered
    const srv = await start({ config: publishConfig(aws), env: keyEnv() });
    const ds = recent(8);
    await sendAll(srv, ds);
    await wait(() => aws.pendingFaults().hung === 1, "a request in flight (hung at the stand-in)", 10_000, srv);
    const files = inflightFiles(srv);
    assert.ok(files.length >= 1, "the request is on disk before it is sent");
    await srv.kill();
    await wait(() => aws.requests().some((r) => r.outcome === "abandoned"), "the stand-in to see the connection go");
    assert.equal(aws.release(), 0, "nothing to release: the client is gone, the request never got its 200");
    aws.clearFaults();
    assert.equal(aws.received().length, 0, "no request accepted before the kill");
    assert.deepEqual(inflightFiles(srv), files, "the in-flight request survives kill -9");

    const srv2 = await restart(srv);
    const all = [...ds];
    await expectDelivered(aws, expectedDatums(records(all)), srv2, "after restart");
    await sentinel(aws, srv2, all, "kill-inflight");
    assertExactlyOnce(aws, expectedDatums(records(all)), srv2, "after restart and the sentinel");
    assert.deepEqual(inflightFiles(srv2), []);
    assert.ok(existsSync(path.join(publishDir(srv2), "cursor.json")), "cursor.json written");
    assertNoRejected(aws, { allow: ["abandoned"] });
    await srv2.stop();
  });

  test("5b. kill -9 with lines in the outbox not yet flushed (flush_interval 3s): exactly once after restart", async () => {
    const aws = await startStandIn();
    const srv = await start({ config: publishConfig(aws, { flush_interval: "3s" }), env: keyEnv() });
    const ds = recent(8);
    await sendAll(srv, ds);
    await srv.waitIdle(); // processed and checkpointed: the outbox lines are confirmed
    const pm = await wait(async () => { const p = await publishMetrics(srv); return p.backlog_age > 0 && p; }, "the publisher to hold the lines", 5_000, srv);
    assert.ok(pm.outbox_bytes > 0, "lines in the outbox");
    await srv.kill();
    assert.equal(aws.counts().requests, 0, "killed before the flush");

    const srv2 = await restart(srv);
    const all = [...ds];
    await expectDelivered(aws, expectedDatums(records(all)), srv2, "after restart");
    await sentinel(aws, srv2, all, "kill-outbox");
    assertExactlyOnce(aws, expectedDatums(records(all)), srv2, "after restart and the sentinel");
    assertNoRejected(aws);
    await srv2.stop();
  });

  test("6. a wrong secret: 403s, auth errors counted, a clear error without the secret, backlog kept; right key → arrives once", async () => {
    const aws = await startStandIn();
    const wrong = `wrongSecret${randomBytes(12).toString("hex")}`;
    const srv = await start({
      config: publishConfig(aws, { max_backlog_age: "2s" }),
      env: keyEnv({ accessKeyId: DEFAULT_CREDENTIAL.accessKeyId, secretAccessKey: wrong }),
    });
    const ds = recent(6);
    await sendAll(srv, ds);
    await wait(() => aws.counts().rejected >= 2, "two refused attempts", 15_000, srv);
    for (const r of aws.requests()) {
      assert.deepEqual([r.outcome, r.status, r.code], ["rejected", 403, "SignatureDoesNotMatch"], `refused for its signature: ${JSON.stringify(r.message)}`);
    }
    const pm = await wait(async () => { const p = await publishMetrics(srv); return p.auth_errors >= 2 && p.auth_errors === aws.counts().rejected && p; }, "auth errors counted", 10_000, srv);
    assert.equal(pm.errors("SignatureDoesNotMatch"), pm.auth_errors);
    assert.equal(pm.requests_ok, 0);
    const line = srv.logs.find((l) => l.level === "error" && l.module === "publisher" && /credentials refused/.test(l.msg));
    assert.ok(line, `an error log line about the credentials\n${summary(srv)}`);
    assert.match(line.msg, /SignatureDoesNotMatch/);
    const r = await wait(async () => { const x = await readyz(srv); return x.json?.status === "degraded" && x; }, "/readyz degraded", 10_000, srv);
    assert.ok(r.json.reasons.some((x) => /SignatureDoesNotMatch/.test(x)), JSON.stringify(r.json));
    assert.equal(aws.received().length, 0);
    assert.ok(inflightFiles(srv).length >= 1, "the backlog is kept on disk");
    const scrape = (await srv.metrics()).text;
    await srv.stop(); // SIGTERM: the publisher retries until its shutdown deadline, keeps the request file
    assert.deepEqual(
      [srv.stderr.includes(wrong), srv.stdout.includes(wrong), scrape.includes(wrong), r.text.includes(wrong)],
      [false, false, false, false],
      "the secret appears in no log line, /metrics or /readyz",
    );
    assert.ok(inflightFiles(srv).length >= 1, "the backlog survives a graceful stop");

    const srv2 = await restart(srv, { env: keyEnv() });
    const all = [...ds];
    await expectDelivered(aws, expectedDatums(records(all)), srv2, "with the right key");
    await sentinel(aws, srv2, all, "auth");
    assertExactlyOnce(aws, expectedDatums(records(all)), srv2, "with the right key and the sentinel");
    assertNoRejected(aws, { allowCodes: ["SignatureDoesNotMatch"] });
    const lastRefused = Math.max(...aws.requests().filter((y) => y.outcome === "rejected").map((y) => y.seq));
    assert.ok(aws.requests().filter((x) => x.outcome === "accepted").every((x) => x.seq > lastRefused), "accepted only after the restart with the right key");
    await srv2.stop();
    assert.equal(srv2.stderr.includes(DEFAULT_CREDENTIAL.secretAccessKey), false, "the right secret is not logged either");
  });

  test("7. credentials: session token from the environment, the container endpoint, IMDSv2", async () => {
    const aws = await startStandIn();
    const token = randomBytes(64).toString("base64");
    const session = aws.addCredential({ accessKeyId: "ASIASESSIONTOKENTEST", secretAccessKey: randomBytes(30).toString("base64"), sessionToken: token });
    const container = aws.setContainerCredentials({});
    const containerToken = `container-auth-${randomBytes(8).toString("hex")}`;
    aws.setContainerToken(containerToken);
    const imds = aws.setImdsCredentials({ role: "gha-metrics-test-role" });

    const cases = [
      { name: "session", cred: session, env: keyEnv(session) },
      { name: "container", cred: container, env: awsEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${aws.url}/creds`, AWS_CONTAINER_AUTHORIZATION_TOKEN: containerToken }) },
      { name: "imds", cred: imds, env: awsEnv({ AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: aws.url }) },
    ];
    await Promise.all(cases.map(async (c) => {
      c.srv = await start({ config: publishConfig(aws), env: c.env });
      c.ds = recent(2, { repos: [`octo-org/creds-${c.name}`], workflow: c.name });
      await sendAll(c.srv, c.ds);
    }));
    for (const c of cases) {
      // Each server's records, and only those, in requests signed with its credential.
      const only = (r) => r.accessKeyId === c.cred.accessKeyId;
      await expectDelivered(aws, expectedDatums(records(c.ds)), c.srv, `${c.name}: datums signed with its credential`, { only });
      for (const r of aws.received().filter(only)) {
        assert.equal(r.sessionToken, true, `${c.name}: temporary credential`);
        assert.equal(r.headers["x-amz-security-token"], c.cred.sessionToken, `${c.name}: X-Amz-Security-Token sent`);
      }
      await c.srv.stop();
      for (const secret of [c.cred.secretAccessKey, c.cred.sessionToken, containerToken]) assert.equal(c.srv.stderr.includes(secret), false, `${c.name}: a secret in the log`);
    }
    assert.deepEqual(
      [...new Set(aws.received().map((r) => r.accessKeyId))].sort(),
      cases.map((c) => c.cred.accessKeyId).sort(),
      "every request signed with one of the three credentials, each credential used",
    );
    const hits = aws.credentialHits();
    assert.ok(hits.container.ok >= 1 && hits.container.denied === 0, `container endpoint used with its token: ${JSON.stringify(hits.container)}`);
    assert.ok(hits.imdsToken.ok >= 1 && hits.imdsCredentials.ok >= 1 && hits.imdsCredentials.denied === 0, `IMDSv2 used: ${JSON.stringify(hits)}`);
    assert.ok(aws.credentialRequests().some((r) => r.endpoint === "imdsRoleName" && r.status === 200));
    assertNoRejected(aws);
  });

  test("8. dead letters: a 2021 example (outside the window) and datums CloudWatch refuses; later data not blocked", async () => {
    const aws = await startStandIn();
    // The stand-in's clock 10 min behind (within the 15 min signature window): a datum 1 h 52 min ahead is inside
    // the server's own window (2 h − 5 min) but CloudWatch refuses it (more than 2 h ahead of its clock).
    aws.setClockOffset(-10 * 60_000);
    const srv = await start({ config: publishConfig(aws), env: keyEnv() });
    const old = freshIds(example("workflow_job", (e) => e.action === "completed" && e.payload.workflow_job.conclusion === "success"));
    const future = minuteOf(Date.now()) + 112 * 60_000 + 10_000;
    const ahead = runDelivery({ repo: "octo-org/octo-repo", workflow: "ahead", completed: future, started: future - 30_000, created: future - 40_000 });
    const ok = recent(4);
    await sendAll(srv, [{ event: "workflow_job", payload: old.payload }, ahead, ...ok]);
    const aheadDatums = expectedDatums([ahead.record]);
    await wait(async () => (await publishMetrics(srv)).dead_letters >= 1 + aheadDatums.size, "dead letters", 20_000, srv);
    await expectDelivered(aws, expectedDatums(records(ok)), srv, "the valid records beside the refused ones");

    const dl = deadLetters(srv);
    const window = dl.filter((x) => /timestamp outside CloudWatch's window/.test(x.reason));
    assert.equal(window.length, 1, `the 2021 record set aside once: ${JSON.stringify(dl.map((x) => x.reason))}`);
    const line = JSON.parse(window[0].item);
    assert.deepEqual(
      [window[0].sink, line.RecordType, line.JobId, line._aws.Timestamp],
      ["cloudwatch", "job", old.payload.workflow_job.id, Date.parse(old.payload.workflow_job.completed_at)],
      "the dead letter holds the EMF line",
    );
    const refused = dl.filter((x) => /^InvalidParameterValue: .*Timestamp.*two hours in the future/.test(x.reason));
    assert.equal(refused.length, aheadDatums.size, `each refused datum alone in the dead-letter file (bisection): ${JSON.stringify(dl.map((x) => x.reason))}`);
    const refusedKeys = refused.map((x) => {
      const body = JSON.parse(x.item);
      assert.equal(body.MetricData.length, 1);
      const m = body.MetricData[0];
      assert.equal(m.Timestamp * 1000, minuteOf(future));
      return `${m.MetricName} ${JSON.stringify(Object.fromEntries((m.Dimensions ?? []).map((e) => [e.Name, e.Value])))}`;
    }).sort();
    assert.deepEqual(refusedKeys, [...aheadDatums.values()].map((e) => `${e.metricName} ${JSON.stringify(e.dimensions)}`).sort());
    assert.equal(dl.length, 1 + aheadDatums.size, "nothing else set aside");
    const pm = await publishMetrics(srv);
    assert.equal(pm.dead_letters, dl.length);

    // Later data is not blocked.
    const later = recent(2, { minutesAgo: 2 });
    await sendAll(srv, later);
    const all = [...ok, ...later];
    await expectDelivered(aws, expectedDatums(records(all)), srv, "later data");
    for (const r of aws.requests().filter((x) => x.outcome !== "accepted")) {
      assert.equal(r.code, "InvalidParameterValue");
      assert.match(r.message, /Timestamp must specify a time no more than two hours in the future/);
    }
    assertNoRejected(aws, { allowCodes: ["InvalidParameterValue"] });
    await srv.stop();
  });

  test("10. SIGTERM sends what is confirmed before exiting (flush_interval 60s)", async () => {
    const aws = await startStandIn();
    const srv = await start({ config: publishConfig(aws, { flush_interval: "60s" }), env: keyEnv() });
    const ds = recent(4);
    await sendAll(srv, ds);
    await srv.waitIdle();
    assert.equal(aws.counts().requests, 0, "nothing sent before the flush interval");
    // While it holds lines for the flush, the publisher sleeps: a spinning
    // thread would use about a core-second per second here.
    const cpu = () => {
      const f = readFileSync(`/proc/${srv.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
    };
    const before = cpu();
    await new Promise((r) => setTimeout(r, 3000));
    const used = cpu() - before;
    assert.ok(used < 0.6, `the idle server used ${used.toFixed(2)} CPU seconds in 3 s while holding a batch`);
    await srv.stop();
    assertExactlyOnce(aws, expectedDatums(records(ds)), srv, "at shutdown");
    assert.deepEqual(inflightFiles(srv), []);
    assertNoRejected(aws);
  });
});

describe("CloudWatch Logs publishing (publish.sink: emf-logs)", () => {
  test("9. EMF lines as PutLogEvents: time order, group and stream created (and re-created), json/emf header", async () => {
    const aws = await startStandIn();
    const group = "/gha-metrics/it-runs";
    const srv = await start({ config: publishConfig(aws, { sink: "emf-logs", log_group: group, flush_interval: "2s" }), env: keyEnv() });
    const base = minuteOf(Date.now()) - 10 * 60_000;
    // Arrival order differs from completion order.
    const ds = [
      jobDelivery({ completed: base + 300_000, started: base + 240_000, created: base + 230_000 }),
      runDelivery({ repo: "Codertocat/Hello-World", workflow: "CodeQL", completed: base + 60_000, started: base, created: base - 7_000, conclusion: "failure" }),
      runDelivery({ completed: base + 180_000, started: base + 100_000, created: base + 90_000 }),
      jobDelivery({ repo: "octo-org/octo-lib", workflow: "release", completed: base + 120_000, started: base + 59_000, created: base + 50_000 }),
    ];
    await sendAll(srv, ds);
    const days = () => [new Date().toISOString().slice(0, 10), new Date(Date.now() - 60_000).toISOString().slice(0, 10)];
    const host = hostname().replace(/[:*]/g, "-");
    await wait(() => aws.counts().logEvents >= ds.length, "every record as a log event", 20_000, srv);
    const groups = aws.logGroups();
    assert.equal(groups.length, 1);
    assert.equal(groups[0].name, group);
    assert.equal(groups[0].streams.length, 1);
    const stream = groups[0].streams[0].name;
    assert.ok(days().some((d) => stream === `${host}/${d}`), `stream "<hostname>/<YYYY-MM-DD>": ${stream}`);
    const ops = aws.requests().map((r) => r.operation);
    assert.deepEqual(ops.slice(0, 2), ["CreateLogGroup", "CreateLogStream"], "group and stream created by the server");

    const events = aws.logEvents(group, stream);
    assert.equal(events.length, ds.length, "each record once");
    const ts = events.map((e) => e.timestamp);
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b), "in time order");
    assert.deepEqual(ts, records(ds).map((r) => r.completed).sort((a, b) => a - b));
    const byId = new Map(records(ds).map((r) => [r.id, r]));
    for (const e of events) {
      assert.equal(e.emf, true, "sent with x-amzn-logs-format: json/emf");
      const line = JSON.parse(e.message);
      const id = line.RecordType === "run" ? line.RunId : line.JobId;
      const r = byId.get(id);
      assert.ok(r, `an event for a record that was sent: ${e.message.slice(0, 200)}`);
      byId.delete(id);
      assert.equal(line.RecordType, r.kind);
      assert.equal(line._aws.Timestamp, r.completed);
      assert.equal(e.timestamp, r.completed);
      assert.equal(line.Repository, r.repo);
      assert.equal(line.Workflow, r.workflow);
      assert.equal(line.Team, r.repo.startsWith("octo-org/") ? "platform" : "unassigned");
      assert.equal(line.CompletedAt, new Date(r.completed).toISOString().replace(/\.\d{3}Z$/, "Z"));
      const directive = line._aws.CloudWatchMetrics[0];
      assert.equal(directive.Namespace, "GitHubActions");
      assert.deepEqual(directive.Dimensions, DEFAULT_DIMENSIONS);
      assert.deepEqual(directive.Metrics.map((m) => [m.Name, m.Unit]), r.metrics.map(([n, u]) => [n, u]));
      for (const [n, , v] of r.metrics) assert.equal(line[n], v, `${n} of ${r.kind} ${id}`);
    }
    assert.equal(byId.size, 0);
    for (const b of aws.logBatches()) assert.equal(b.format, "json/emf");

    // The group deleted behind the server's back: PutLogEvents → ResourceNotFoundException → re-created.
    aws.reset();
    const more = [runDelivery({ repo: "octo-org/octo-lib", workflow: "release", completed: base + 400_000, started: base + 390_000, created: base + 385_000 })];
    await sendAll(srv, more);
    await wait(() => aws.logEvents(group, stream).length === 1, "the event after the group was deleted", 20_000, srv);
    const ops2 = aws.requests().map((r) => `${r.operation}:${r.outcome === "accepted" ? "ok" : r.code}`);
    assert.deepEqual(ops2, ["PutLogEvents:ResourceNotFoundException", "CreateLogGroup:ok", "CreateLogStream:ok", "PutLogEvents:ok"]);
    assert.equal(JSON.parse(aws.logEvents(group, stream)[0].message).RunId, more[0].record.id);

    const pm = await wait(async () => { const p = await publishMetrics(srv, "emf-logs"); return p.events === ds.length + 1 && p; }, "/metrics events", 5_000, srv);
    assert.equal(pm.dead_letters, 0);
    assertNoRejected(aws, { allowCodes: ["ResourceNotFoundException"] });
    await srv.stop();
  });
});
