// The crash test of the durable spool (issue 3, "Tests"): bursts of distinct,
// signed, completed workflow_job deliveries from 32 concurrent transfers (one
// `curl --parallel` process per burst, reporting every delivery's answer),
// the server killed with SIGKILL mid-burst and restarted on the same spool and
// EMF file: on a fresh spool right after the first answers (before any
// checkpoint), then four times on one spool (early, middle and late in a
// burst, and once every answer is in while processing still catches up).
// After each restart has caught up:
//   - every delivery answered 2xx has exactly one EMF record (by JobId),
//   - no delivery has two, and none that had no answer has more than one,
//   - the EMF file holds only whole JSON lines, for jobs that were sent.
// Then, as GitHub would, the unanswered deliveries are redelivered under their
// own ids: one already stored must be answered "duplicate" and one that was not
// must be accepted, so that every job ends with exactly one record.
// Last: a redelivery of accepted ids is answered 200 duplicate and changes
// nothing, the same job attempts under new delivery ids are accepted but not
// recorded again, and SIGTERM exits 0 with nothing left to recover.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { deliver, explain, startServer, summary, tempDir } from "./lib/harness.mjs";
import {
  burst,
  emfJobCounts,
  is2xx,
  makeJobDeliveries,
  restart,
  tally,
  waitCaughtUp,
  withNewDeliveryId,
} from "./lib/crash.mjs";

const BURST = 2500; // deliveries per round (4 rounds + redeliveries: ~35 s with the ASan build on 2 cores)
const PARALLEL = 32; // concurrent transfers
const FIRST_JOB_ID = 7_000_000_000;
const ROUNDS = [
  { name: "early", killAfter: BURST * 0.1 },
  { name: "middle", killAfter: BURST * 0.5 },
  { name: "late", killAfter: BURST * 0.9 },
  { name: "right after the burst, while processing catches up", killAfter: null },
];
const SAMPLE = 500; // accepted deliveries redelivered / re-sent at the end
const FRESH_BURST = 300; // deliveries per fresh-spool run

const CONFIG = {
  server: { threads: 2 },
  // 1 MiB segments: a burst rotates through ~25 of them; retention 0 deletes
  // each once processed, so deletion races the kill too.
  spool: { min_free: 0, segment_size: "1MiB", retention: "0s" },
};

/**
 * One spool directory and EMF file across kills and restarts, with what was
 * sent to it and how each delivery was answered.
 */
function crashSession(prefix) {
  const dir = tempDir(prefix);
  const bodies = path.join(dir, "bodies");
  const s = {
    dir,
    srv: null,
    /** delivery id → { d, answers: [status, ...] } */
    sent: new Map(),
    /** jobId → [delivery ids that carried it] */
    jobs: new Map(),
  };
  s.start = async () => {
    s.srv = await startServer({ dir, config: CONFIG });
  };
  s.acked = (id) => s.sent.get(id).answers.some(is2xx);

  /** Asserts the invariants over everything sent so far; returns the EMF counts. */
  s.checkEmf = (where, extra = "") => {
    const counts = emfJobCounts(s.srv.emfPath);
    const problems = [];
    for (const [jobId, n] of counts) {
      if (!s.jobs.has(jobId)) problems.push(`JobId ${jobId}: ${n} record(s), but no such job was sent`);
    }
    const answers = (ids) => ids.map((i) => `${i}=${s.sent.get(i).answers}`).join(", ");
    let doubled = 0;
    let lost = 0;
    for (const [jobId, ids] of s.jobs) {
      const n = counts.get(jobId) ?? 0;
      const ack = ids.some(s.acked);
      if (n > 1) doubled++;
      if (ack && n === 0) lost++;
      if (ack && n !== 1) problems.push(`JobId ${jobId}: ${n} records, want exactly 1 (answers: ${answers(ids)})`);
      else if (!ack && n > 1) problems.push(`JobId ${jobId}: ${n} records for a job never acknowledged, want at most 1 (answers: ${answers(ids)})`);
    }
    assert.deepEqual(
      problems.slice(0, 10),
      [],
      `${where}: ${problems.length} job(s) wrong: ${lost} acknowledged but not recorded, ${doubled} recorded more than once${extra}\n` +
        `--- gha-metrics stderr ---\n${summary(s.srv)}`,
    );
    return counts;
  };

  /**
   * A burst of `count` new jobs; SIGKILL after `killAfter` answers (null: once
   * curl has every answer); restart; catch up; check; redeliver the
   * unanswered ones under their own ids; check that every job of the burst
   * is recorded exactly once.
   */
  s.round = async (t, { count, killAfter, firstJobId, tag }) => {
    const deliveries = await makeJobDeliveries(bodies, count, { firstJobId, tag });
    for (const d of deliveries) {
      s.sent.set(d.delivery, { d, answers: [] });
      s.jobs.set(d.jobId, [d.delivery]);
    }

    // --- the burst, and the kill ---
    let killedAt = null; // answers seen when SIGKILL was sent
    let diedBefore = null; // the server's exit status if it had already gone by then
    const killNow = (answered) => {
      if (killedAt !== null) return;
      killedAt = answered;
      diedBefore = s.srv.exit;
      s.srv.child.kill("SIGKILL");
    };
    const b = await burst(s.srv.webhookUrl, deliveries, {
      parallel: PARALLEL,
      workDir: dir,
      onAnswer: (n) => killAfter !== null && n >= killAfter && killNow(n),
    });
    if (killAfter === null) killNow(b.answered);
    const exit = await s.srv.exited;
    const hadCheckpoint = existsSync(path.join(dir, "spool", "checkpoint.json"));
    // What processing had written by the kill (maybe not yet checkpointed; a line being written when the
    // kill came may be cut short: the restart cuts it back).
    const written = emfJobCounts(s.srv.emfPath, { tornTail: true });
    const emfAtKill = deliveries.filter((d) => written.has(d.jobId)).length;
    assert.equal(diedBefore, null, `gha-metrics died before the kill\n${summary(s.srv)}`);
    assert.equal(exit.signal, "SIGKILL", `gha-metrics ended by ${exit.code ?? exit.signal}, not by the kill\n${summary(s.srv)}`);
    for (const [id, res] of b.results) s.sent.get(id).answers.push(res.status);

    const atKill =
      `SIGKILL after ${killedAt} answers; at the kill ${emfAtKill} of this burst's jobs were in the EMF file ` +
      `and checkpoint.json ${hadCheckpoint ? "existed" : "did not exist yet"}`;
    t.diagnostic(`burst: ${b.ms} ms, answers ${JSON.stringify(tally(b.results))}; ${atKill}`);
    const odd = [...b.results].filter(([, res]) => res.status !== 0 && res.status !== 202);
    assert.deepEqual(odd.slice(0, 10), [], "before the kill, every answer is 202");
    if (killAfter !== null) {
      assert.ok(b.answered >= killAfter, `at least ${killAfter} answers before the kill`);
      assert.ok(b.answered < count, `the kill interrupted the burst (${b.answered}/${count} answered)`);
    } else {
      assert.equal(b.answered, count, `every delivery answered before the kill (curl: ${b.stderr.slice(0, 500)})`);
    }

    // --- restart on the same spool and EMF file ---
    s.srv = await restart(s.srv);
    const m0 = await s.srv.metrics();
    const recovered = m0.get("gha_metrics_spool_recovered_total");
    const torn = m0.get("gha_metrics_spool_torn_bytes_total");
    t.diagnostic(`restart: recovered ${recovered} deliveries past the checkpoint, cut ${torn} torn bytes`);
    assert.equal(m0.get("gha_metrics_spool_corrupt_total"), 0, "a killed process leaves no corrupt frame");
    assert.ok(recovered <= count, `recovered ${recovered} ≤ ${count} (only this burst can be past the checkpoint)`);
    const m1 = await waitCaughtUp(s.srv, { minProcessed: recovered });
    assert.equal(m1.get("gha_metrics_spool_pending"), 0);
    const recorded = s.checkEmf("after the restart", ` (${atKill}; recovered ${recovered})`);
    const mine = deliveries.filter((d) => recorded.get(d.jobId) === 1).length;
    t.diagnostic(`after catching up: ${mine}/${count} jobs of this burst recorded, ${b.answered} were acknowledged`);

    // --- GitHub's way: redeliver the unanswered ones under their own ids ---
    const unanswered = deliveries.filter((d) => !s.acked(d.delivery));
    const had = new Map(unanswered.map((d) => [d.delivery, recorded.get(d.jobId) ?? 0]));
    const m2 = await s.srv.metrics();
    const re = await burst(s.srv.webhookUrl, unanswered, { parallel: PARALLEL, workDir: dir, keepBodies: true });
    const wrong = [];
    let dup = 0;
    for (const d of unanswered) {
      const res = re.results.get(d.delivery);
      s.sent.get(d.delivery).answers.push(res.status);
      // Stored before the kill (recorded now) ⇒ duplicate; not stored ⇒ accepted now.
      if (had.get(d.delivery) === 1 && !(res.status === 200 && res.json?.status === "duplicate")) wrong.push(`${d.delivery} (recorded) → ${res.status} ${res.text}`);
      if (had.get(d.delivery) === 0 && !(res.status === 202 && res.json?.status === "accepted")) wrong.push(`${d.delivery} (not recorded) → ${res.status} ${res.text}`);
      if (res.status === 200) dup++;
    }
    t.diagnostic(`redelivered ${unanswered.length} unanswered: ${dup} duplicate, ${unanswered.length - dup} accepted`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} redeliveries answered wrongly\n${summary(s.srv)}`);
    await waitCaughtUp(s.srv, { minProcessed: m2.get("gha_metrics_processed_total") + (unanswered.length - dup) });
    const final = s.checkEmf("after redelivering the unanswered");
    const missing = deliveries.filter((d) => final.get(d.jobId) !== 1).map((d) => d.jobId);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} job(s) of this burst without exactly one record`);
  };
  return s;
}

// A kill during the very first processing pass of a fresh spool: the EMF lines
// written so far are not covered by any checkpoint yet. Twice, each on a fresh
// spool, because the moment of the kill is a matter of timing.
describe("crash test: kill -9 on a fresh spool, right after the first answers (before the first checkpoint)", () => {
  for (const n of [1, 2]) {
    test(`fresh spool #${n}: ${FRESH_BURST} deliveries, kill -9 after the first answer, restart, every 2xx recorded exactly once`, async (t) => {
      const s = crashSession(`gm-crash-fresh${n}-`);
      try {
        await s.start();
        await s.round(t, { count: FRESH_BURST, killAfter: 1, firstJobId: FIRST_JOB_ID - n * 10_000, tag: `f${n}` });
        await s.srv.stop("SIGTERM");
      } finally {
        await s.srv?.kill();
      }
    });
  }
});

describe(`crash test: ${ROUNDS.length} bursts of ${BURST} deliveries (${PARALLEL} concurrent) on one spool, kill -9, restart`, () => {
  const s = crashSession("gm-crash-");
  before(() => s.start());
  after(async () => {
    await s.srv?.kill();
  });

  let jobBase = FIRST_JOB_ID;
  ROUNDS.forEach((round, r) => {
    const killNote = round.killAfter === null ? "once every answer is in" : `after ${round.killAfter} answers`;
    test(`round ${r + 1} (${round.name}): kill -9 ${killNote}, restart, every 2xx recorded exactly once`, async (t) => {
      const firstJobId = jobBase;
      jobBase += BURST;
      await s.round(t, { count: BURST, killAfter: round.killAfter, firstJobId, tag: `r${r + 1}` });
    });
  });

  test(`redelivering ${SAMPLE} accepted delivery ids → 200 duplicate, nothing appended, EMF unchanged`, async () => {
    assert.equal(s.srv.exit, null);
    const ids = [...s.sent.keys()].filter(s.acked);
    const sample = spread(ids, SAMPLE).map((id) => s.sent.get(id).d);
    const emf = readFileSync(s.srv.emfPath);
    const m0 = await s.srv.metrics();
    const re = await burst(s.srv.webhookUrl, sample, { parallel: PARALLEL, workDir: s.dir, keepBodies: true });
    const wrong = sample
      .map((d) => [d.delivery, re.results.get(d.delivery)])
      .filter(([, res]) => !(res.status === 200 && res.json?.status === "duplicate"))
      .map(([id, res]) => `${id} → ${res.status} ${res.text}`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length}/${SAMPLE} redeliveries not answered 200 duplicate`);

    const m1 = await waitCaughtUp(s.srv, { minProcessed: m0.get("gha_metrics_processed_total") });
    const d = (name, labels) => m1.get(name, labels) - m0.get(name, labels);
    assert.equal(d("gha_metrics_deliveries_total", { event: "workflow_job", outcome: "duplicate" }), SAMPLE);
    assert.equal(d("gha_metrics_duplicates_total", { kind: "delivery" }), SAMPLE);
    assert.equal(d("gha_metrics_spool_appended_total"), 0, "a duplicate delivery is not spooled again");
    assert.equal(d("gha_metrics_processed_total"), 0);
    assert.ok(readFileSync(s.srv.emfPath).equals(emf), "the EMF file is unchanged");

    // One more through the plain single-request path: the body says so too.
    const one = sample[0];
    const res = await deliver(s.srv.webhookUrl, { event: "workflow_job", payload: one.body, delivery: one.delivery, signature: one.signature });
    assert.equal(res.status, 200, explain(res));
    assert.deepEqual(res.json, { status: "duplicate" }, explain(res));
  });

  test(`the same ${SAMPLE} job attempts under new delivery ids → 202, but no new EMF record`, async () => {
    const ids = [...s.sent.keys()].filter(s.acked);
    const sample = spread(ids.slice().reverse(), SAMPLE).map((id) => withNewDeliveryId(s.sent.get(id).d));
    const emf = readFileSync(s.srv.emfPath);
    const m0 = await s.srv.metrics();
    const re = await burst(s.srv.webhookUrl, sample, { parallel: PARALLEL, workDir: s.dir, keepBodies: true });
    const wrong = sample
      .map((d) => [d.delivery, re.results.get(d.delivery)])
      .filter(([, res]) => !(res.status === 202 && res.json?.status === "accepted"))
      .map(([id, res]) => `${id} → ${res.status} ${res.text}`);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length}/${SAMPLE} new delivery ids not answered 202 accepted`);

    const m1 = await waitCaughtUp(s.srv, { minProcessed: m0.get("gha_metrics_processed_total") + SAMPLE });
    const d = (name, labels) => m1.get(name, labels) - m0.get(name, labels);
    assert.equal(d("gha_metrics_spool_appended_total"), SAMPLE, "new delivery ids are spooled");
    assert.equal(d("gha_metrics_processed_total"), SAMPLE);
    assert.equal(d("gha_metrics_duplicates_total", { kind: "job" }), SAMPLE, "each is a duplicate job attempt");
    assert.equal(d("gha_metrics_records_written_total", { kind: "job" }), 0);
    assert.ok(readFileSync(s.srv.emfPath).equals(emf), "the EMF file is unchanged");
    s.checkEmf("after re-sending job attempts under new ids");
  });

  test("SIGTERM exits 0; a restart finds nothing to recover and remembers every delivery id", async () => {
    const emf = readFileSync(s.srv.emfPath);
    await s.srv.stop("SIGTERM");
    s.srv = await restart(s.srv);
    const m = await s.srv.metrics();
    assert.equal(m.get("gha_metrics_spool_recovered_total"), 0, "a clean stop checkpoints everything");
    assert.equal(m.get("gha_metrics_spool_torn_bytes_total"), 0);
    assert.equal(m.get("gha_metrics_spool_pending"), 0);
    assert.ok(readFileSync(s.srv.emfPath).equals(emf), "the EMF file is unchanged by the restart");

    const first = s.sent.values().next().value.d; // round 1, across four restarts
    const res = await deliver(s.srv.webhookUrl, { event: "workflow_job", payload: first.body, delivery: first.delivery, signature: first.signature });
    assert.equal(res.status, 200, explain(res));
    assert.deepEqual(res.json, { status: "duplicate" }, explain(res));

    const total = emfJobCounts(s.srv.emfPath);
    assert.equal(total.size, s.jobs.size, "one record per job sent");
    assert.ok([...total.values()].every((n) => n === 1));
    await s.srv.stop("SIGTERM");
  });
});

/** `n` items spread evenly over `list` (all of it when shorter). */
function spread(list, n) {
  if (list.length <= n) return list.slice();
  const step = list.length / n;
  return Array.from({ length: n }, (_, i) => list[Math.floor(i * step)]);
}
