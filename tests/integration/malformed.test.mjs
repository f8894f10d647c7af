// The malformed-input sweep: validly signed bodies that are truncated, not
// UTF-8, nested 10,000 deep, carry numbers no integer holds, or give a field
// the service uses the wrong JSON type. Each must be a 400, no record may be
// written for any of them, and the server must survive all of them.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { SECRET, deliver, example, explain, freshIds, startServer } from "./lib/harness.mjs";

const JOB = example("workflow_job", (e) => e.action === "completed").payload;
const RUN = example("workflow_run", (e) => e.action === "completed" && e.payload.workflow_run.status === "completed").payload;

/** A copy of `payload` with the value at `dotted` replaced; `raw` text is spliced in verbatim. */
function withField(payload, dotted, value, { raw = false } = {}) {
  const copy = structuredClone(payload);
  const keys = dotted.split(".");
  const last = keys.pop();
  let obj = copy;
  for (const k of keys) obj = obj[k];
  if (value === undefined) delete obj[last];
  else obj[last] = raw ? "__RAW_VALUE__" : value;
  const text = JSON.stringify(copy);
  return raw ? text.replace('"__RAW_VALUE__"', value) : text;
}

const WRONG_INTEGER = [["a string", "289782451"], ["a real", 1.5], ["an object", {}], ["an array", []], ["a boolean", true]];
const WRONG_STRING = [["a number", 42], ["an object", { a: 1 }], ["an array", ["x"]], ["a boolean", false]];
const WRONG_TIME = [["a number", 1628159638], ["an object", {}], ["an array", []], ["an unparseable string", "yesterday"]];

// Every field the record builder uses (include/gm/record.h, processing/event.c), with wrong values.
const FIELDS = {
  workflow_job: {
    payload: JOB,
    fields: [
      ["action", [["a number", 1], ["an object", {}], ["missing", undefined]]],
      ["repository", [["a string", "Codertocat/Hello-World"], ["missing", undefined]]],
      ["repository.full_name", [["a number", 42], ["an object", {}], ["empty", ""]]],
      ["workflow_job", [["an array", []], ["a string", "job"]]],
      ["workflow_job.id", [...WRONG_INTEGER, ["zero", 0], ["negative", -1]]],
      ["workflow_job.run_id", [...WRONG_INTEGER, ["zero", 0]]],
      ["workflow_job.run_attempt", [...WRONG_INTEGER, ["zero", 0]]],
      ["workflow_job.name", WRONG_STRING],
      ["workflow_job.workflow_name", WRONG_STRING],
      ["workflow_job.conclusion", WRONG_STRING],
      ["workflow_job.status", WRONG_STRING],
      ["workflow_job.head_branch", WRONG_STRING],
      ["workflow_job.runner_name", WRONG_STRING],
      ["workflow_job.runner_group_name", WRONG_STRING],
      ["workflow_job.created_at", WRONG_TIME],
      ["workflow_job.started_at", WRONG_TIME],
      ["workflow_job.completed_at", WRONG_TIME],
      ["workflow_job.labels", [["a string", "ubuntu-latest"], ["an object", {}], ["holding a number", ["ubuntu-latest", 7]], ["holding null", [null]]]],
    ],
  },
  workflow_run: {
    payload: RUN,
    fields: [
      ["action", [["a number", 1], ["an array", []], ["missing", undefined]]],
      ["repository.full_name", [["a number", 42], ["an array", []], ["empty", ""]]],
      ["workflow_run", [["an array", []], ["a number", 5]]],
      ["workflow_run.id", [...WRONG_INTEGER, ["zero", 0]]],
      ["workflow_run.run_attempt", [...WRONG_INTEGER, ["zero", 0]]],
      ["workflow_run.run_number", WRONG_INTEGER],
      ["workflow_run.workflow_id", WRONG_INTEGER],
      ["workflow_run.name", WRONG_STRING],
      ["workflow_run.event", WRONG_STRING],
      ["workflow_run.conclusion", WRONG_STRING],
      ["workflow_run.status", WRONG_STRING],
      ["workflow_run.head_branch", WRONG_STRING],
      ["workflow_run.created_at", WRONG_TIME],
      ["workflow_run.run_started_at", WRONG_TIME],
      ["workflow_run.updated_at", WRONG_TIME],
      ["workflow", [["a string", "test"], ["a number", 1]]],
      ["workflow.name", [["a number", 42], ["an object", {}]]],
    ],
  },
};

describe("malformed-input sweep (every body validly signed)", () => {
  let srv;
  let recordsBefore; // /metrics once the controls are processed
  let controls; // their EMF lines
  let sentCount = 0;

  before(async () => {
    srv = await startServer();
    // Controls: the untouched examples, built the same way as the bad bodies, are
    // accepted and written, so each 400 below is down to the one thing changed.
    for (const [event, payload] of [["workflow_job", JOB], ["workflow_run", RUN]]) {
      const res = await deliver(srv.webhookUrl, { event, payload: withField(payload, "unused", 1), secret: SECRET });
      assert.equal(res.status, 202, `control ${event}: ${explain(res)}`);
    }
    await srv.waitForEmf(2);
    recordsBefore = await srv.waitIdle();
    controls = srv.emfRecords();
    assert.equal(controls.length, 2, "one record per control");
  });
  after(async () => {
    await srv?.kill();
  });

  /** Sends every case; asserts a JSON 400 for each and that the server is alive. Reports all failures at once. */
  async function expect400(event, cases, { encoding = "json", contentType } = {}) {
    const failures = [];
    for (const [name, body] of cases) {
      const res = await deliver(srv.webhookUrl, { event, payload: body, secret: SECRET, encoding, contentType });
      sentCount++;
      const ok = res.status === 400 && typeof res.json?.error === "string" && res.json.delivery === res.delivery;
      if (!ok) failures.push(`${name}: ${explain(res)}`);
      if (srv.exit) {
        failures.push(`the server died (${srv.exit.code ?? srv.exit.signal}) after: ${name}`);
        break;
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases were not answered 400`);
  }

  test("truncated copies of a completed workflow_job at every offset class → 400", async () => {
    const text = JSON.stringify(JOB);
    const offsets = new Set();
    for (let i = 0; i < 24; i++) offsets.add(i); // the empty body, and cuts inside the first key
    for (let i = 0; i < text.length; i += Math.ceil(text.length / 60)) offsets.add(i);
    for (let i = text.length - 24; i < text.length; i++) offsets.add(i); // cuts inside the closing braces
    const cases = [...offsets].sort((a, b) => a - b).map((n) => [`first ${n} of ${text.length} bytes`, text.slice(0, n)]);
    assert.ok(cases.length > 90);
    await expect400("workflow_job", cases);
  });

  test("truncated workflow_run, and truncations sent form-urlencoded → 400", async () => {
    const run = JSON.stringify(RUN);
    const runCases = [1, 100, 1000, run.length >> 1, run.length - 1].map((n) => [`workflow_run cut at ${n}`, run.slice(0, n)]);
    await expect400("workflow_run", runCases);
    const job = JSON.stringify(JOB);
    const formCases = [1, 500, job.length >> 1, job.length - 1].map((n) => [`form, cut at ${n}`, job.slice(0, n)]);
    await expect400("workflow_job", formCases, { encoding: "form" });
  });

  test("invalid UTF-8 in a string, a key, and a form payload → 400", async () => {
    const text = JSON.stringify(JOB);
    const at = text.indexOf('"linters"') + 1; // inside workflow_job.name
    const splice = (bytes, pos = at) =>
      Buffer.concat([Buffer.from(text.slice(0, pos)), Buffer.from(bytes), Buffer.from(text.slice(pos))]);
    const sequences = [
      ["a lone 0xFF byte", [0xff]],
      ["a lone continuation byte", [0x80]],
      ["an overlong '/'", [0xc0, 0xaf]],
      ["a UTF-16 surrogate", [0xed, 0xa0, 0x80]],
      ["a truncated 3-byte sequence", [0xe2, 0x82]],
      ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ["a 5-byte sequence", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ];
    const cases = sequences.map(([name, bytes]) => [`${name} in workflow_job.name`, splice(bytes)]);
    cases.push(["0xFE in a key", splice([0xfe], text.indexOf('"action"') + 1)]);
    cases.push(["a NUL byte between tokens", splice([0x00], text.indexOf(',"workflow_job"'))]);
    await expect400("workflow_job", cases);
    // Form encoding: %FF decodes to a byte that is not UTF-8.
    const form = `payload=${encodeURIComponent(text).replace("linters", "lin%FFters")}`;
    await expect400("workflow_job", [["%FF in a form payload", form]], { contentType: "application/x-www-form-urlencoded" });
  });

  test("nesting 10,000 deep → 400", async () => {
    const N = 10_000;
    const arrays = "[".repeat(N) + "]".repeat(N);
    const objects = '{"a":'.repeat(N) + "1" + "}".repeat(N);
    await expect400("workflow_job", [
      ["10,000 nested arrays as the body", arrays],
      ["10,000 nested objects as the body", objects],
      ["10,000 nested arrays in an unused field", withField(JOB, "deep", arrays, { raw: true })],
      ["10,000 nested objects as workflow_job.steps", withField(JOB, "workflow_job.steps", objects, { raw: true })],
      ["10,000 unclosed arrays", "[".repeat(N)],
    ]);
  });

  test("numbers no integer or double holds → 400", async () => {
    await expect400("workflow_job", [
      ["workflow_job.id = 1e400", withField(JOB, "workflow_job.id", "1e400", { raw: true })],
      ["workflow_job.id = 123456789012345678901234567890", withField(JOB, "workflow_job.id", "123456789012345678901234567890", { raw: true })],
      ["workflow_job.id = -123456789012345678901234567890", withField(JOB, "workflow_job.id", "-123456789012345678901234567890", { raw: true })],
      ["workflow_job.id = 1e20 (a real)", withField(JOB, "workflow_job.id", "1e20", { raw: true })],
      ["workflow_job.run_attempt = 1e400", withField(JOB, "workflow_job.run_attempt", "1e400", { raw: true })],
      ["workflow_job.run_id = 99999999999999999999", withField(JOB, "workflow_job.run_id", "99999999999999999999", { raw: true })],
      ["an unused field = -1e400", withField(JOB, "unused", "-1e400", { raw: true })],
    ]);
    await expect400("workflow_run", [
      ["workflow_run.id = 123456789012345678901234567890", withField(RUN, "workflow_run.id", "123456789012345678901234567890", { raw: true })],
      ["workflow_run.run_attempt = 1e400", withField(RUN, "workflow_run.run_attempt", "1e400", { raw: true })],
    ]);
  });

  for (const [event, { payload, fields }] of Object.entries(FIELDS)) {
    for (const [field, values] of fields) {
      const names = values.map(([n]) => n).join(", ");
      test(`${event}: ${field} ${names} → 400 each`, async () => {
        await expect400(event, values.map(([name, value]) => [`${field} ${name}`, withField(payload, field, value)]));
      });
    }
  }

  test("no EMF line was written for any of them, and the counters agree", async () => {
    // Every answer has come back; an absence means something only once processing has
    // caught up with the spool (gha_metrics_spool_pending 0).
    const m = await srv.waitIdle();
    const delta = (name, filter) => m.sum(name, filter) - recordsBefore.sum(name, filter);
    assert.equal(delta("gha_metrics_deliveries_total", { outcome: "bad_request" }), sentCount,
      "every malformed delivery counted as bad_request");
    assert.equal(delta("gha_metrics_deliveries_total"), sentCount, "and under no other outcome");
    assert.equal(delta("gha_metrics_spool_appended_total"), 0, "none of them reached the spool");
    assert.equal(delta("gha_metrics_processed_total"), 0, "none of them was processed");
    assert.equal(delta("gha_metrics_records_written_total"), 0);
    assert.equal(delta("gha_metrics_duplicates_total"), 0, "none was dropped as a copy of a control either");
    assert.deepEqual(srv.emfRecords(), controls, "the EMF file holds the two controls' lines and nothing else");

    // A good delivery after the sweep (a job attempt of its own) is written: the file then
    // holds exactly the three good records.
    const res = await deliver(srv.webhookUrl, { event: "workflow_job", payload: freshIds(JOB), secret: SECRET });
    assert.equal(res.status, 202, explain(res));
    await srv.waitForEmf(3);
    const m2 = await srv.waitIdle();
    const lines = srv.emfRecords();
    assert.equal(lines.length, 3, "only the three good deliveries have EMF lines");
    assert.deepEqual(lines.map((r) => r.RecordType), ["job", "run", "job"]);
    assert.equal(lines[2].DeliveryId, res.delivery);
    assert.equal(m2.sum("gha_metrics_records_written_total") - m.sum("gha_metrics_records_written_total"), 1);
  });

  test("the server is alive: GET /healthz → 200", async () => {
    assert.equal(srv.exit, null, "the server died");
    const h = await srv.get("/healthz");
    assert.equal(h.status, 200, explain(h));
  });

  test("SIGTERM: exits with status 0", async () => {
    await srv.stop();
  });
});
