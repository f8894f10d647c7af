// Sends every ping, workflow_run and workflow_job example of
// @octokit/webhooks-examples to a running gha-metrics, signed the way GitHub
// signs deliveries, then prints the EMF records the service wrote meanwhile.
// Run it through scripts/send-examples (which installs the npm packages).

import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { sign } from "@octokit/webhooks-methods";

const USAGE = `usage: scripts/send-examples [--url URL] [--secret-file FILE] [--emf FILE] [--form]

Sends every bundled ping, workflow_run and workflow_job example delivery,
signed with the webhook secret, to a running gha-metrics and shows the
records it wrote.

  --url URL           the webhook endpoint (default http://127.0.0.1:8080/webhook)
  --secret-file FILE  the secret (default ./var/webhook-secret); the environment
                      variable GHA_METRICS_WEBHOOK_SECRET wins when it is set
  --emf FILE          the service's EMF file (default ./var/metrics.emf.jsonl)
  --form              send application/x-www-form-urlencoded instead of JSON
  -h, --help          show this help
`;

function die(message, code = 2) {
  process.stderr.write(`send-examples: ${message}\n`);
  process.exit(code);
}

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8080/webhook" },
      "secret-file": { type: "string", default: "./var/webhook-secret" },
      emf: { type: "string", default: "./var/metrics.emf.jsonl" },
      form: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (err) {
  process.stderr.write(`send-examples: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

// ---- the secret: as the service reads a file: secret, less one trailing newline
let secret = process.env.GHA_METRICS_WEBHOOK_SECRET;
if (!secret) {
  if (!existsSync(opts["secret-file"])) {
    die(`no secret: ${opts["secret-file"]} does not exist and GHA_METRICS_WEBHOOK_SECRET is not set\n` +
      "(the service writes ./var/webhook-secret on its first start with the default configuration)");
  }
  secret = readFileSync(opts["secret-file"], "utf8").replace(/\r?\n$/, "");
  if (!secret) die(`${opts["secret-file"]} is empty`);
}

// ---- the examples
const require = createRequire(import.meta.url);
const index = JSON.parse(readFileSync(require.resolve("@octokit/webhooks-examples/api.github.com/index.json"), "utf8"));
// The service records each run or job attempt once (a redelivery or a second
// copy is not counted again), and GitHub's examples share their ids. So each
// example gets run and job ids of its own, fresh on every invocation: every
// completed example makes a record, every time the script runs.
let nextId = Date.now() * 100;
const freshIds = (event, payload) => {
  const copy = structuredClone(payload);
  if (copy.workflow_run) copy.workflow_run.id = ++nextId;
  if (copy.workflow_job) Object.assign(copy.workflow_job, { id: ++nextId, run_id: ++nextId });
  return copy;
};
const deliveries = ["ping", "workflow_run", "workflow_job"].flatMap((event) =>
  index.find((e) => e.name === event).examples.map((payload) => ({ event, payload: freshIds(event, payload) })));

// ---- where the EMF file stood before
const emf = opts.emf;
const emfStart = emf !== "-" && existsSync(emf) ? statSync(emf).size : 0;

// ---- send
function post(body, headers) {
  const args = ["-sS", "--max-time", "15", "-o", "-", "-w", "\n%{http_code}", "--data-binary", "@-", "-H", "Expect:"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(opts.url);
  try {
    const out = execFileSync("curl", args, { input: body, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    const nl = out.lastIndexOf("\n");
    return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
  } catch (err) {
    return { status: 0, body: String(err.stderr || err.message).trim() };
  }
}

const pad = (s, n) => String(s).padEnd(n);
console.log(`Sending ${deliveries.length} example deliveries to ${opts.url} (${opts.form ? "form-urlencoded" : "JSON"})`);
let failed = 0;
let expectedRecords = 0;
for (const { event, payload } of deliveries) {
  const json = JSON.stringify(payload);
  const body = opts.form ? new URLSearchParams({ payload: json }).toString() : json;
  const delivery = randomUUID();
  const res = post(body, {
    "Content-Type": opts.form ? "application/x-www-form-urlencoded" : "application/json",
    "User-Agent": "GitHub-Hookshot/send-examples",
    "X-GitHub-Event": event,
    "X-GitHub-Delivery": delivery,
    "X-Hub-Signature-256": await sign(secret, body),
  });
  const obj = payload[event];
  const action = payload.action ?? "-";
  const status = obj?.status ? `status ${obj.status}` : "";
  const recordDue = event !== "ping" && payload.action === "completed" && obj?.status === "completed";
  if (recordDue) expectedRecords++;
  let answer = res.body;
  try {
    const j = JSON.parse(res.body);
    answer = j.status ?? j.error ?? res.body;
  } catch { /* not JSON: shown as is */ }
  console.log(`  ${pad(event, 13)} ${pad(action, 12)} ${pad(status, 19)} → ${res.status || "no answer"} ${pad(answer, 9)}` +
    (recordDue ? "  (makes a record)" : ""));
  if (res.status < 200 || res.status > 299) failed++;
  if (res.status === 0) {
    die(`could not reach ${opts.url}: is gha-metrics running? (README: the first command starts it)`, 1);
  }
}
console.log(failed ? `${failed} of ${deliveries.length} deliveries were refused.` : `All ${deliveries.length} deliveries were accepted.`);

// ---- the records the service wrote since the start
if (emf === "-") {
  console.log("\nThe service writes its EMF records to its standard output (publish.file: -).");
  process.exit(failed ? 1 : 0);
}

function newLines() {
  if (!existsSync(emf)) return [];
  const size = statSync(emf).size;
  const from = size >= emfStart ? emfStart : 0; // the file was replaced: read it all
  const buf = Buffer.alloc(size - from);
  const fd = openSync(emf, "r");
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString("utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean);
}

const deadline = Date.now() + 5000;
let lines = newLines();
while (lines.length < expectedRecords && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 100));
  lines = newLines();
}

const secs = (v) => (typeof v === "number" ? `${v}s` : "?");
console.log(`\n${lines.length} new record(s) in ${emf}:`);
for (const line of lines) {
  let r;
  try {
    r = JSON.parse(line);
  } catch {
    console.log(`  (not JSON) ${line.slice(0, 120)}`);
    continue;
  }
  const team = r.Team ? `  team ${r.Team}` : "";
  if (r.RecordType === "run") {
    console.log(`  run  ${r.Repository}  workflow "${r.Workflow}"  run ${r.RunId} attempt ${r.RunAttempt}  ${r.Conclusion}` +
      `  duration ${secs(r.RunDuration)}  queue ${secs(r.RunQueueDelay)}${team}`);
  } else if (r.RecordType === "job") {
    console.log(`  job  ${r.Repository}  workflow "${r.Workflow}"  job "${r.JobName}" (${r.JobId})  ${r.Conclusion}` +
      `  duration ${secs(r.JobDuration)}  queue ${secs(r.JobQueueTime)}  billable ${r.BillableMinutes} min` +
      `  ${r.RunnerOs ?? ""}${team}`);
  } else {
    console.log(`  ${line.slice(0, 160)}`);
  }
}
if (lines.length < expectedRecords) {
  console.log(`(expected ${expectedRecords}: the completed workflow_run and workflow_job examples)`);
}
process.exit(failed ? 1 : 0);
