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
