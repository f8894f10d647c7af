// Disk full (issue 3, "The spool" and "Tests"): spool.dir on a small tmpfs,
// the EMF file on ordinary disk. Deliveries are sent until the spool is full:
// those that do not fit are answered 503 with a JSON error, counted, and
// /readyz fails; every one answered 202 is recorded exactly once; nothing
// half-written is left in the segments (read frame by frame here, and by a
// restart's recovery); when space returns (the tmpfs is made bigger) the
// server is ready again by itself and the refused deliveries, redelivered,
// are accepted. Then spool.min_free above the free space refuses at once.
// A second tmpfs checks that with retention 0 a full spool frees itself.
//
// Needs root (mount -t tmpfs); without it every test is skipped, saying why.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";

import { deliver, explain, startServer, summary, tempDir, waitFor } from "./lib/harness.mjs";
import {
  burst,
  emfJobCounts,
  frameSize,
  freeBytes,
  makeJobDeliveries,
  mountTmpfs,
  readSpool,
  resizeTmpfs,
  restart,
  tally,
  unmountTmpfs,
  waitCaughtUp,
} from "./lib/crash.mjs";

const TMPFS_SIZE = "4m"; // about 470 deliveries of 8.9 KB
const SENT = 700; // more than fit
const PARALLEL = 8;

const dir = tempDir("gm-diskfull-");
const mounted = await mountTmpfs(TMPFS_SIZE);
const spoolDir = mounted.dir;
const skip = mounted.ok ? false : `needs a tmpfs as spool dir (run as root): ${mounted.reason}`;

const readyz = async (srv) => (await srv.get("/readyz")).status;
const workflowJob = (outcome) => ({ event: "workflow_job", outcome });

describe(`spool.dir on a ${TMPFS_SIZE} tmpfs, min_free 0, 1 MiB segments: fill it, then give space back`, () => {
  let srv;
  let deliveries; // every delivery of the fill
  const answers = new Map(); // delivery id → { status, json, text }
  const accepted = () => deliveries.filter((d) => answers.get(d.delivery).status === 202);
  const refused = () => deliveries.filter((d) => answers.get(d.delivery).status === 503);

  before(async () => {
    if (skip) return;
    srv = await startServer({
      dir,
      config: {
        server: { threads: 2 },
        spool: { dir: spoolDir, min_free: 0, segment_size: "1MiB", retention: "24h" },
        // the EMF file stays on ordinary disk (baseConfig puts it in dir, not in dir/spool)
      },
    });
    assert.ok(!srv.emfPath.startsWith(spoolDir + path.sep), "the EMF file is not on the tmpfs");
  });
  after(async () => {
    await srv?.kill();
    if (mounted.ok) await unmountTmpfs(spoolDir);
  });

  test(`${SENT} deliveries: those that fit → 202, the rest → 503 {"error","delivery"}, counted; /readyz 503`, { skip }, async (t) => {
    deliveries = await makeJobDeliveries(path.join(dir, "bodies"), SENT, { firstJobId: 8_000_000_000, tag: "full" });
    const b = await burst(srv.webhookUrl, deliveries, { parallel: PARALLEL, workDir: dir, keepBodies: true });
    const ready = await readyz(srv); // at once: within the failure hold, whatever the free space
    for (const [id, res] of b.results) answers.set(id, res);
    const counts = tally(b.results);
    t.diagnostic(`answers ${JSON.stringify(counts)} in ${b.ms} ms; ${await freeBytes(spoolDir)} bytes left on the tmpfs`);

    assert.deepEqual(Object.keys(counts).sort(), ["202", "503"], `only 202 and 503 answers: ${JSON.stringify(counts)}`);
    assert.ok(accepted().length > 100, `a 4 MiB spool takes hundreds of deliveries (${accepted().length})`);
    assert.ok(refused().length > 0, "the spool filled up");
    for (const d of refused()) {
      const res = answers.get(d.delivery);
      assert.equal(typeof res.json?.error, "string", `503 body is a JSON error: ${res.text}`);
      assert.ok(res.json.error.length > 0);
      assert.equal(res.json.delivery, d.delivery, `503 body names the delivery: ${res.text}`);
    }
    for (const d of accepted()) assert.deepEqual(answers.get(d.delivery).json, { status: "accepted" });

    const m = await srv.metrics();
    assert.equal(m.get("gha_metrics_deliveries_total", workflowJob("unavailable")), refused().length);
    assert.equal(m.get("gha_metrics_deliveries_total", workflowJob("accepted")), accepted().length);
    assert.equal(m.get("gha_metrics_spool_appended_total"), accepted().length);
    assert.equal(m.get("gha_metrics_spool_sync_errors_total"), 0, "tmpfs never fails a sync: every 503 is a refused append");
    assert.equal(m.get("gha_metrics_spool_append_errors_total"), refused().length);
    assert.equal(ready, 503, "/readyz right after the refusals");
    const r = await srv.get("/readyz");
    assert.equal(r.json?.status, "unready", r.text);
    assert.ok(r.json.reasons.some((x) => /spool/.test(x)), `a spool reason: ${r.text}`);
  });

  test("nothing half-written: the segments hold whole frames, exactly the 202 deliveries", { skip }, () => {
    const spool = readSpool(spoolDir);
    assert.deepEqual(spool.problems, [], "every byte of every segment belongs to a whole, valid frame");
    const ids = spool.frames.map((f) => f.delivery);
    assert.equal(new Set(ids).size, ids.length, "no delivery stored twice");
    assert.deepEqual(new Set(ids), new Set(accepted().map((d) => d.delivery)), "the spool holds the 202 deliveries, no 503 one");
  });

  test("every 202 delivery is recorded exactly once in the EMF file (not on the tmpfs), no 503 one", { skip }, async (t) => {
    await waitFor(async () => (await srv.metrics()).get("gha_metrics_processed_total") >= accepted().length, {
      timeoutMs: 20_000,
      what: `processed_total >= ${accepted().length}`,
    });
    const counts = emfJobCounts(srv.emfPath);
    const wrong = [
      ...accepted().filter((d) => counts.get(d.jobId) !== 1).map((d) => `202 job ${d.jobId}: ${counts.get(d.jobId) ?? 0} records`),
      ...refused().filter((d) => counts.has(d.jobId)).map((d) => `503 job ${d.jobId}: ${counts.get(d.jobId)} records`),
    ];
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} jobs recorded wrongly`);
    const m = await srv.metrics();
    t.diagnostic(`spool_pending ${m.get("gha_metrics_spool_pending")}, checkpoints ${m.get("gha_metrics_checkpoints_total")} while the disk is full`);
  });

  // The spool keeps 1 MiB beyond min_free for its ledger and checkpoint (so
  // a full spool can still checkpoint and free its processed segments): "no
  // room for a delivery" means less than that reserve plus one delivery.
  test("/readyz stays 503 while the spool still has no room for a delivery (past the 2 s failure hold)", { skip }, async () => {
    const need = Math.min(...deliveries.map((d) => frameSize(d)));
    const RESERVE = 1 << 20;
    const samples = [];
    const until = Date.now() + 3_500;
    while (Date.now() < until) {
      const free = await freeBytes(spoolDir);
      samples.push({ ms: until - Date.now(), free, readyz: await readyz(srv) });
      if (free >= RESERVE + need) break; // space came back (not expected): the check no longer applies
      await new Promise((r) => setTimeout(r, 250));
    }
    const last = samples.at(-1);
    assert.ok(last.free < RESERVE + need, `no room beyond the reserve (${last.free} bytes free, reserve ${RESERVE}, a delivery takes ${need})`);
    // The proof that no delivery fits: one more is refused.
    const d = { ...deliveries[0], delivery: `probe-${Date.now()}` };
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: d.body, delivery: d.delivery, signature: d.signature });
    assert.equal(res.status, 503, explain(res));
    const ready = samples.filter((s) => s.readyz !== 503);
    assert.deepEqual(
      ready,
      [],
      `/readyz answered 200 while ${last.free} bytes were free and a delivery takes ${need} bytes (every delivery answered 503 meanwhile)`,
    );
  });

  test("restart on the full disk: no torn bytes, nothing corrupt, recovery within the 202 ones, EMF still exactly once", { skip }, async (t) => {
    await srv.stop("SIGTERM");
    const hadCheckpoint = existsSync(path.join(spoolDir, "checkpoint.json"));
    srv = await restart(srv);
    const m = await srv.metrics();
    const recovered = m.get("gha_metrics_spool_recovered_total");
    t.diagnostic(`recovered ${recovered} deliveries past the checkpoint; checkpoint.json ${hadCheckpoint ? "existed" : "was never written"}`);
    assert.equal(m.get("gha_metrics_spool_torn_bytes_total"), 0, "no torn tail: refused appends left nothing behind");
    assert.equal(m.get("gha_metrics_spool_corrupt_total"), 0);
    assert.ok(recovered <= accepted().length, `recovered ${recovered} ≤ ${accepted().length} accepted`);
    await waitFor(async () => (await srv.metrics()).get("gha_metrics_processed_total") >= recovered, {
      timeoutMs: 20_000,
      what: `processed_total >= ${recovered}`,
    });
    const counts = emfJobCounts(srv.emfPath);
    const wrong = accepted().filter((d) => counts.get(d.jobId) !== 1);
    assert.deepEqual(
      wrong.map((d) => `${d.jobId}: ${counts.get(d.jobId) ?? 0}`).slice(0, 10),
      [],
      `${wrong.length} of the 202 jobs not recorded exactly once after the restart (checkpoint.json ${hadCheckpoint ? "existed" : "was never written"}, ${recovered} recovered)`,
    );
    assert.equal(counts.size, accepted().length, "and nothing else");
  });

  test("space returns (tmpfs → 64m): /readyz 200 within 5 s, the refused deliveries redelivered → 202 and recorded once", { skip }, async (t) => {
    await resizeTmpfs(spoolDir, "64m");
    const t0 = Date.now();
    await waitFor(async () => (await readyz(srv)) === 200, { timeoutMs: 5_000, intervalMs: 100, what: "/readyz 200" });
    t.diagnostic(`/readyz 200 after ${Date.now() - t0} ms`);

    const m0 = await srv.metrics();
    const again = refused();
    const b = await burst(srv.webhookUrl, again, { parallel: PARALLEL, workDir: dir, keepBodies: true });
    const wrong = again.map((d) => [d, b.results.get(d.delivery)]).filter(([, res]) => res.status !== 202);
    assert.deepEqual(wrong.slice(0, 10).map(([d, res]) => `${d.delivery} → ${res.status} ${res.text}`), [], "each refused delivery is accepted now");

    const m1 = await waitCaughtUp(srv, { minProcessed: m0.get("gha_metrics_processed_total") + again.length, timeoutMs: 30_000 });
    assert.equal(m1.get("gha_metrics_spool_pending"), 0);
    const counts = emfJobCounts(srv.emfPath);
    const lost = deliveries.filter((d) => !counts.has(d.jobId));
    assert.deepEqual(lost.map((d) => d.jobId).slice(0, 10), [], "every job of the fill is recorded");
    const wrongNow = again.filter((d) => counts.get(d.jobId) !== 1);
    assert.deepEqual(wrongNow.map((d) => `${d.jobId}: ${counts.get(d.jobId)}`).slice(0, 10), [], "each redelivered one exactly once");
    assert.equal(counts.size, SENT);
    // (the 202 ones are checked for exactly one record by the restart test above)
    assert.equal(await readyz(srv), 200);
  });

  test("min_free above the free space → /readyz 503 and deliveries 503 at once; ready again when space grows", { skip }, async (t) => {
    await srv.stop("SIGTERM");
    const free = await freeBytes(spoolDir);
    srv = await startServer({ dir, config: { ...srv.config, spool: { ...srv.config.spool, min_free: "128MiB" } } });
    t.diagnostic(`${free} bytes free, min_free 128 MiB`);
    const r = await srv.get("/readyz");
    assert.equal(r.status, 503, `/readyz before any delivery: ${r.text}`);
    assert.ok(r.json?.reasons?.some((x) => /spool/.test(x)), r.text);

    const [d] = await makeJobDeliveries(path.join(dir, "bodies"), 1, { firstJobId: 8_100_000_000, tag: "minfree" });
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: d.body, delivery: d.delivery, signature: d.signature });
    assert.equal(res.status, 503, explain(res));
    assert.equal(typeof res.json?.error, "string", explain(res));
    assert.equal(res.json.delivery, d.delivery, explain(res));
    const m = await srv.metrics();
    assert.equal(m.get("gha_metrics_deliveries_total", workflowJob("unavailable")), 1);
    assert.equal(m.get("gha_metrics_spool_append_errors_total"), 1);
    assert.equal(m.get("gha_metrics_spool_appended_total"), 0);

    await resizeTmpfs(spoolDir, "256m"); // free > min_free now
    await waitFor(async () => (await readyz(srv)) === 200, { timeoutMs: 5_000, intervalMs: 100, what: "/readyz 200 once the tmpfs is 256m" });
    const ok = await deliver(srv.webhookUrl, { event: "workflow_job", payload: d.body, delivery: d.delivery, signature: d.signature });
    assert.equal(ok.status, 202, explain(ok));
    await waitCaughtUp(srv, { minProcessed: 1 });
    assert.equal(emfJobCounts(srv.emfPath).get(d.jobId), 1);
    await srv.stop("SIGTERM");
  });
});

const dir0 = tempDir("gm-diskfull-r0-");
const mounted0 = mounted.ok ? await mountTmpfs(TMPFS_SIZE) : mounted;
const spoolDir0 = mounted0.dir;
const skip0 = mounted0.ok ? false : `needs a tmpfs as spool dir (run as root): ${mounted0.reason}`;

describe(`spool.dir on a ${TMPFS_SIZE} tmpfs with retention 0: a full spool frees itself once processed`, () => {
  let srv;
  after(async () => {
    await srv?.kill();
    if (mounted0.ok) await unmountTmpfs(spoolDir0);
  });

  test("after 503s, processed segments are deleted, /readyz returns to 200 and deliveries are accepted, with no outside help", { skip: skip0 }, async (t) => {
    srv = await startServer({
      dir: dir0,
      config: { server: { threads: 2 }, spool: { dir: spoolDir0, min_free: 0, segment_size: "1MiB", retention: "0s" } },
    });
    const deliveries = await makeJobDeliveries(path.join(dir0, "bodies"), 1500, { firstJobId: 8_200_000_000, tag: "r0" });
    const b = await burst(srv.webhookUrl, deliveries, { parallel: 32, workDir: dir0 });
    const counts = tally(b.results);
    t.diagnostic(`answers ${JSON.stringify(counts)}; ${await freeBytes(spoolDir0)} bytes free after the burst`);
    assert.deepEqual(Object.keys(counts).filter((k) => k !== "202" && k !== "503"), [], JSON.stringify(counts));
    const ok = deliveries.filter((d) => b.results.get(d.delivery).status === 202);
    const no = deliveries.filter((d) => b.results.get(d.delivery).status === 503);

    // However full it got, processing the accepted ones must free the spool again.
    let m;
    try {
      m = await waitCaughtUp(srv, { minProcessed: ok.length, timeoutMs: 10_000 });
    } catch (err) {
      const now = await srv.metrics();
      const spool = readSpool(spoolDir0);
      err.message =
        `the spool never drained: spool_pending ${now.get("gha_metrics_spool_pending")}, processed ${now.get("gha_metrics_processed_total")}` +
        `/${ok.length}, checkpoints ${now.get("gha_metrics_checkpoints_total")}, ${spool.segments.length} segments on disk, ` +
        `${await freeBytes(spoolDir0)} bytes free\n${err.message}`;
      throw err;
    }
    assert.ok(m.get("gha_metrics_spool_segments") <= 2, `processed segments deleted (${m.get("gha_metrics_spool_segments")} left)`);
    await waitFor(async () => (await readyz(srv)) === 200, { timeoutMs: 5_000, what: "/readyz 200" });
    if (no.length > 0) {
      const re = await burst(srv.webhookUrl, no, { parallel: PARALLEL, workDir: dir0 });
      const wrong = no.filter((d) => re.results.get(d.delivery).status !== 202);
      // A batch as large as the first one may fill the spool again; what matters is that it takes deliveries.
      assert.ok(wrong.length < no.length, `redeliveries accepted again (${no.length - wrong.length}/${no.length})\n${summary(srv)}`);
    }
    await srv.stop("SIGTERM");
  });
});
