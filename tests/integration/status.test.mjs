// `gha-metrics status`: what an operator reads off the store, beside a live
// server and after it stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";

import { SECRET, deliver, example, freshIds, run, startServer } from "./lib/harness.mjs";

const JOB = example("workflow_job", (e) => e.action === "completed" && e.payload.workflow_job.status === "completed").payload;

async function status(srv) {
  const res = await run(["status", "--config", srv.configPath], { cwd: srv.dir });
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

test("status reports the checkpoint, spool and ledger, live and after a stop", async () => {
  const srv = await startServer();
  for (let i = 0; i < 3; i++) {
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: freshIds(JOB), secret: SECRET });
    assert.equal(res.status, 202);
  }
  await srv.waitIdle();
  const live = await status(srv);
  assert.equal(live.checkpoint.processed, 3, JSON.stringify(live));
  assert.equal(live.spool.pending, 0);
  assert.equal(live.spool.segments, 1);
  assert.ok(live.spool.bytes > 3 * JSON.stringify(JOB).length, "the three deliveries are in the segment");
  assert.equal(live.ledger.log_files, 1);
  assert.ok(live.ledger.log_bytes > 0);
  assert.equal(live.checkpoint.sink_mark.size > 0, true, "the EMF file's durable size");
  assert.equal(live.cloudwatch, undefined, "no CloudWatch sink configured");
  await srv.stop();
  const after = await status(srv);
  assert.deepEqual(after.checkpoint.processed, 3);
  assert.equal(after.spool.pending, 0);
});

test("status without --config is a usage error; a damaged checkpoint is reported, not guessed", async () => {
  const usage = await run(["status"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing --config FILE/);

  const srv = await startServer();
  await srv.stop();
  writeFileSync(path.join(srv.dir, "spool", "checkpoint.json"), '{"spool_segment": "x"}');
  const res = await run(["status", "--config", srv.configPath], { cwd: srv.dir });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /checkpoint/);
});
