// The example deliveries of @octokit/webhooks-examples (api.github.com/index.json).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let index;
function loadIndex() {
  if (!index) {
    let file;
    try {
      file = require.resolve("@octokit/webhooks-examples/api.github.com/index.json");
    } catch {
      throw new Error("@octokit/webhooks-examples is not installed: run `npm ci` at the repository root");
    }
    index = JSON.parse(readFileSync(file, "utf8"));
  }
  return index;
}

/** Deep copies of every example of one event, as { event, index, action, payload, label }. */
export function examplesOf(event) {
  const entry = loadIndex().find((e) => e.name === event);
  if (!entry) throw new Error(`no examples for ${event}`);
  return entry.examples.map((payload, index) => ({
    event,
    index,
    action: payload.action,
    payload: structuredClone(payload),
    label: `${event}[${index}]${payload.action ? ` ${payload.action}` : ""}` +
      (payload[event]?.status ? ` (status ${payload[event].status})` : ""),
  }));
}

/** Every ping, workflow_run and workflow_job example (the deliveries this service handles). */
export function loadExamples(events = ["ping", "workflow_run", "workflow_job"]) {
  return events.flatMap(examplesOf);
}

/** The first example of `event` matching pred (a fresh copy). */
export function example(event, pred = () => true) {
  const found = examplesOf(event).find(pred);
  if (!found) throw new Error(`no ${event} example matches`);
  return found;
}

// Ids no example uses (the examples' largest is 14541957942), below 2^53, and
// different on every call: distinct attempts for tests that expect one record
// per delivery, now that the service records a run or job attempt only once.
let lastFreshId = 900_000_000_000;

/** A new id, never returned before in this process. */
export function freshId() {
  return ++lastFreshId;
}

/**
 * A copy of a workflow_run / workflow_job example (as returned by example()) or
 * of its bare payload, naming a run or job attempt no other call names: new
 * workflow_run.id, or new workflow_job.id and workflow_job.run_id. Everything
 * else (times, names, repository, conclusion) is unchanged, so the record's
 * numbers are the example's. `attempt` also sets run_attempt (run_attempt is
 * kept otherwise); `id` / `runId` choose the ids instead of new ones.
 *
 * The service keys a run by (workflow_run.id, run_attempt) and a job by
 * (workflow_job.id, run_attempt): see freshIds(x, { id: sameId, attempt: 2 })
 * for another attempt of a run or job already sent.
 */
export function freshIds(exampleOrPayload, { attempt, id, runId } = {}) {
  const isExample = exampleOrPayload && typeof exampleOrPayload.event === "string" && "payload" in exampleOrPayload;
  const payload = structuredClone(isExample ? exampleOrPayload.payload : exampleOrPayload);
  if (payload.workflow_job && typeof payload.workflow_job === "object") {
    payload.workflow_job.id = id ?? freshId();
    payload.workflow_job.run_id = runId ?? freshId();
    if (attempt !== undefined) payload.workflow_job.run_attempt = attempt;
  } else if (payload.workflow_run && typeof payload.workflow_run === "object") {
    payload.workflow_run.id = id ?? freshId();
    if (attempt !== undefined) payload.workflow_run.run_attempt = attempt;
  } else {
    throw new Error("freshIds: neither a workflow_run nor a workflow_job payload");
  }
  if (!isExample) return payload;
  const obj = payload.workflow_job ?? payload.workflow_run;
  return {
    ...exampleOrPayload,
    payload,
    label: `${exampleOrPayload.label} [id ${obj.id}, attempt ${obj.run_attempt}]`,
  };
}

/** The attempt a workflow_run / workflow_job payload names, as "run:<id>:<attempt>" or "job:<id>:<attempt>". */
export function attemptKey(payload) {
  if (payload.workflow_job) return `job:${payload.workflow_job.id}:${payload.workflow_job.run_attempt}`;
  if (payload.workflow_run) return `run:${payload.workflow_run.id}:${payload.workflow_run.run_attempt}`;
  return undefined;
}
