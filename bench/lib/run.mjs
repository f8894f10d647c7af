// The measuring half of bench/ingest (which builds, checks the tools, makes the
// work directory and the TLS certificate, compiles h2post, and cleans up).
// Runs every cell: a fresh server (gha-metrics or the Node.js baseline) on a
// fresh spool directory, a warm-up, the measured run, then the checks; prints
// one progress line per cell on stderr and the tables (markdown) on stdout.
//
// Input (environment, set by bench/ingest):
//   BENCH_WORK          work directory (on local disk; removed by bench/ingest)
//   BENCH_GM_BIN        the Release gha-metrics binary
//   BENCH_H2POST        the compiled bench/lib/h2post.c
//   BENCH_CERT, BENCH_KEY  PEM files for the TLS listener
//   BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNS, BENCH_H2LOAD_CONNS, BENCH_SUITES,
//   BENCH_WEBHOOKS_FROM, BENCH_RESULTS   see bench/ingest --help

import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { sign } from "@octokit/webhooks-methods";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const env = process.env;
const WORK = env.BENCH_WORK;
const GM_BIN = env.BENCH_GM_BIN;
const SECONDS = intEnv("BENCH_SECONDS", 10);
const WARMUP = intEnv("BENCH_WARMUP", 1, 0);
const CONNS = listEnv("BENCH_CONNS", "1 16 256");
const H2LOAD_CONNS = listEnv("BENCH_H2LOAD_CONNS", "16");
const SUITES = new Set((env.BENCH_SUITES ?? "wrk node h2 h2load").split(/[\s,]+/).filter(Boolean));
const TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

for (const s of SUITES) if (!["wrk", "node", "h2", "h2load"].includes(s)) fail(`BENCH_SUITES: unknown suite ${s}`);
if (!WORK || !existsSync(WORK)) fail("BENCH_WORK is not set: run bench/ingest, not this file");

function fail(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}
function intEnv(name, dflt, min = 1) {
  const v = env[name] === undefined || env[name] === "" ? dflt : Number(env[name]);
  if (!Number.isInteger(v) || v < min) fail(`${name} must be a whole number ≥ ${min}`);
  return v;
}
function listEnv(name, dflt) {
  const v = (env[name] ?? dflt).split(/[\s,]+/).filter(Boolean).map(Number);
  if (v.some((n) => !Number.isInteger(n) || n < 1 || n > 4096)) fail(`${name}: connection counts 1–4096`);
  return v;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

// ------------------------------------------------------------ children ----

// Every process started here is the leader of a new process group (spawnTo: detached), so that a
// tool is killed together with the bash wrapper that times it, and a Ctrl-C in the terminal
// reaches bench/ingest and this runner, which then stop everything in order.
const children = new Set(); // killed on the way out
const PIDS = path.join(WORK, "pids"); // the group ids, also read by bench/ingest's trap

function track(child) {
  children.add(child);
  appendFileSync(PIDS, `${child.pid}\n`);
  child.on("exit", () => children.delete(child));
  return child;
}

/** Every child leads its own process group (a tool runs under a bash wrapper): kill the groups. */
function killAll(sig = "SIGKILL") {
  for (const c of children) {
    try {
      process.kill(-c.pid, sig);
    } catch {
      try {
        c.kill(sig);
      } catch {
        /* gone */
      }
    }
  }
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`bench: ${sig}, stopping`);
    killAll();
    process.exit(sig === "SIGINT" ? 130 : 143);
  });
}
process.on("exit", () => killAll());

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function httpRequest(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

// ------------------------------------------------------------- /proc ----

function procCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime, every thread
}
function procStatusKb(pid, key) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : NaN;
}

// ------------------------------------------------------------ payload ----

/** The largest workflow_run example of @octokit/webhooks-examples (a completed run, ~19.7 KB). */
function prepare() {
  const index = JSON.parse(
    readFileSync(path.join(REPO, "node_modules/@octokit/webhooks-examples/api.github.com/index.json"), "utf8"),
  );
  const bodies = index.find((e) => e.name === "workflow_run").examples.map((p) => JSON.stringify(p));
  bodies.sort((a, b) => b.length - a.length);
  const body = bodies[0];
  const bodyFile = path.join(WORK, "workflow_run.json");
  writeFileSync(bodyFile, body);
  const secret = randomBytes(24).toString("hex");
  const secretFile = path.join(WORK, "webhook-secret");
  writeFileSync(secretFile, secret, { mode: 0o600 });
  return { body, bodyFile, secret, secretFile };
}

// ------------------------------------------------------------ servers ----

async function waitReady(url, child, what, errFile) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what} exited at start:\n${tail(errFile)}`);
    try {
      if ((await httpRequest(url)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after 15 s:\n${tail(errFile)}`);
    await sleep(50);
  }
}

function tail(file, lines = 15) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no output)";
  }
}

async function startGm(dir, tls) {
  const plain = await freePort();
  const secure = tls ? await freePort() : 0;
  const q = JSON.stringify;
  const config = [
    "# generated by bench/ingest",
    "server:",
    "  listen:",
    `    - address: ${q(`127.0.0.1:${plain}`)}`,
    ...(tls
      ? [
          `    - address: ${q(`127.0.0.1:${secure}`)}`,
          `      tls: {certificate: ${q(env.BENCH_CERT)}, key: ${q(env.BENCH_KEY)}}`,
        ]
      : []),
    "  threads: 2",
    `  http2: ${tls ? "true" : "false"}`,
    "  shutdown_timeout: 2s",
    "webhook:",
    "  path: /webhook",
    `  secrets: [${q(`file:${PAYLOAD.secretFile}`)}]`,
    "spool:",
    `  dir: ${q(path.join(dir, "spool"))}`,
    "  min_free: 0",
    "publish:",
    "  sink: emf-file",
    `  file: ${q(path.join(dir, "metrics.emf.jsonl"))}`,
    "log:",
    "  level: warn",
    "",
  ].join("\n");
  const configFile = path.join(dir, "gha-metrics.yaml");
  writeFileSync(configFile, config);
  const errFile = path.join(dir, "server.stderr");
  const child = spawnTo(GM_BIN, ["serve", "--config", configFile], { cwd: dir }, null, errFile);
  const base = `http://127.0.0.1:${plain}`;
  await waitReady(`${base}/readyz`, child, "gha-metrics", errFile);
  return {
    name: "gha-metrics",
    child,
    errFile,
    base,
    loadBase: tls ? `https://127.0.0.1:${secure}` : base,
    counters: gmCounters,
  };
}

async function startNode(dir) {
  const port = await freePort();
  const errFile = path.join(dir, "server.stderr");
  const childEnv = {
    ...env,
    BENCH_LISTEN: `127.0.0.1:${port}`,
    BENCH_SECRET_FILE: PAYLOAD.secretFile,
    BENCH_OUT: path.join(dir, "deliveries.jsonl"),
  };
  // The work directory on the command line (ignored by the receiver) lets bench/ingest's trap
  // recognise the process as one of its own.
  const child = spawnTo(process.execPath, [path.join(REPO, "bench/baseline/receiver.mjs"), dir],
    { cwd: dir, env: childEnv }, null, errFile);
  const base = `http://127.0.0.1:${port}`;
  await waitReady(`${base}/healthz`, child, "the Node.js baseline", errFile);
  return { name: "node-baseline", child, errFile, base, loadBase: base, counters: nodeCounters };
}

/** spawn() in a new process group, stdout and stderr to files (the parent's descriptors are closed at once). */
function spawnTo(cmd, args, opts, outFile, errFile) {
  const fds = [outFile ? openSync(outFile, "w") : "ignore", openSync(errFile, "w")];
  try {
    return track(spawn(cmd, args, { ...opts, detached: true, stdio: ["ignore", ...fds] }));
  } finally {
    for (const fd of fds) if (typeof fd === "number") closeSync(fd);
  }
}

async function stopServer(server) {
  const c = server.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(t);
}

/** gha-metrics' /metrics → { outcomes: {accepted, duplicate, ...} (summed over events), syncs, appended, pending }. */
async function gmCounters(server) {
  const r = await httpRequest(`${server.base}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const outcomes = {};
  let syncs = null, appended = null, pending = null;
  for (const line of r.body.split("\n")) {
    let m = line.match(/^gha_metrics_deliveries_total\{event="[^"]*",outcome="([^"]+)"\} (\d+)/);
    if (m) outcomes[m[1]] = (outcomes[m[1]] ?? 0) + Number(m[2]);
    if ((m = line.match(/^gha_metrics_spool_sync_seconds_count (\d+)/))) syncs = Number(m[1]);
    if ((m = line.match(/^gha_metrics_spool_appended_total (\d+)/))) appended = Number(m[1]);
    if ((m = line.match(/^gha_metrics_spool_pending (\d+)/))) pending = Number(m[1]);
  }
  return { outcomes, syncs, appended, pending };
}

async function nodeCounters(server) {
  const r = await httpRequest(`${server.base}/metrics`);
  const c = JSON.parse(r.body);
  const { accepted, ...rest } = c;
  return { outcomes: { accepted, ...rest }, syncs: accepted, appended: accepted, pending: null };
}

const total = (c) => Object.values(c.outcomes).reduce((a, b) => a + b, 0);

/** Polls the counters until nothing moves for 300 ms (answers in flight when the tool stopped are done). */
async function settle(server) {
  let last = await server.counters(server);
  let still = 0;
  const deadline = Date.now() + 15_000;
  while (still < 3 && Date.now() < deadline) {
    await sleep(100);
    const now = await server.counters(server);
    still = total(now) === total(last) ? still + 1 : 0;
    last = now;
  }
  return last;
}

// -------------------------------------------------------------- tools ----

/** Runs a tool under bash so that its CPU time (user + sys, all threads) can be read from bash's cutime/cstime. */
function runTimed(cmd, args, dir, label) {
  const statFile = path.join(dir, `${label}.stat`);
  const outFile = path.join(dir, `${label}.stdout`);
  const errFile = path.join(dir, `${label}.stderr`);
  const script = 'f=$1; shift; "$@"; rc=$?; read -r s < /proc/$$/stat; printf "%s\\n" "$s" > "$f"; exit $rc';
  return new Promise((resolve, reject) => {
    const child = spawnTo("bash", ["-c", script, "bash", statFile, cmd, ...args], { cwd: dir }, outFile, errFile);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const stdout = readFileSync(outFile, "utf8");
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.join(" ")} exited ${code ?? signal}:\n${tail(errFile)}\n${stdout}`));
        return;
      }
      const s = readFileSync(statFile, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).trim().split(" ");
      resolve({ stdout, cpu: (Number(f[13]) + Number(f[14])) / TICKS }); // cutime + cstime
    });
  });
}

const newTag = () => randomBytes(4).toString("hex"); // 8 hex: the first group of every delivery id of one run

function lastJson(stdout) {
  const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith('{"tool"'));
  if (!line) throw new Error(`no result line in:\n${stdout}`);
  return JSON.parse(line);
}

async function runTool(cell, server, seconds, dir, label) {
  const url = `${server.loadBase}/webhook`;
  const threads = String(Math.min(2, cell.conns));
  const sig = PAYLOAD.signature;
  if (cell.tool === "wrk") {
    const args = ["-t", threads, "-c", String(cell.conns), "-d", `${seconds}s`, "--timeout", "10s",
      "-s", path.join(HERE, "webhook.lua"), url, "--", PAYLOAD.bodyFile, sig, newTag(), "/webhook"];
    const r = await runTimed("wrk", args, dir, label);
    return { ...lastJson(r.stdout), clientCpu: r.cpu, slack: cell.conns };
  }
  if (cell.tool === "h2post") {
    const args = [url, PAYLOAD.bodyFile, sig, newTag(), String(cell.conns), String(seconds), cell.tls ? "h2" : "h1"];
    const r = await runTimed(env.BENCH_H2POST, args, dir, label);
    const j = lastJson(r.stdout);
    if (cell.tls && j.http2 !== j.requests) throw new Error(`h2post: only ${j.http2} of ${j.requests} answers were HTTP/2`);
    return { ...j, clientCpu: r.cpu, slack: 0 };
  }
  if (cell.tool === "h2load") {
    const logFile = path.join(dir, `${label}.h2load.log`);
    const args = ["-D", String(seconds), "-c", String(cell.conns), "-t", threads, "-m", "1",
      "-d", PAYLOAD.bodyFile, "-T", "10", "-N", "10", "--log-file", logFile,
      "-H", "content-type: application/json", "-H", "user-agent: GitHub-Hookshot/bench",
      "-H", "x-github-event: workflow_run", "-H", `x-hub-signature-256: ${sig}`,
      "-H", `x-github-delivery: ${cell.dupId}`, ...(cell.tls ? [] : ["--h1"]), url];
    const r = await runTimed("h2load", args, dir, label);
    return { ...h2loadResult(r.stdout, logFile, cell), clientCpu: r.cpu, slack: cell.conns };
  }
  throw new Error(`unknown tool ${cell.tool}`);
}

/** h2load prints no percentiles: they come from its per-request --log-file (start µs, status, µs to answer). */
function h2loadResult(stdout, logFile, cell) {
  const proto = stdout.match(/Application protocol: (\S+)/)?.[1];
  const want = cell.tls ? "h2" : "http/1.1";
  if (proto !== want) throw new Error(`h2load negotiated ${proto ?? "nothing"}, not ${want}:\n${stdout}`);
  const finished = stdout.match(/finished in ([\d.]+)(m?s)/);
  const durationUs = finished ? Number(finished[1]) * (finished[2] === "ms" ? 1e3 : 1e6) : SECONDS * 1e6;
  const req = stdout.match(/requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/);
  const status = {};
  const lat = [];
  let failed = 0;
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line) continue;
    const [, code, us] = line.split("\t");
    if (code === "-1") {
      failed++;
      continue;
    }
    status[code] = (status[code] ?? 0) + 1;
    lat.push(Number(us));
  }
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.round((p / 100) * (lat.length - 1))] : 0);
  return {
    tool: "h2load",
    requests: lat.length,
    duration_us: durationUs,
    status,
    errors: { failed, errored: req ? Number(req[6]) : 0, timeout: req ? Number(req[7]) : 0 },
    latency_us: { p50: pct(50), p99: pct(99), max: lat.at(-1) ?? 0, mean: lat.reduce((a, b) => a + b, 0) / (lat.length || 1) },
  };
}

// -------------------------------------------------------------- cells ----

let cellNo = 0;

async function runCell(cell, of) {
  const dir = path.join(WORK, `cell-${++cellNo}`);
  mkdirSync(dir);
  const label = `${cell.server} ${cell.tool} ${cell.proto} c=${cell.conns}${cell.dupId ? " (duplicates)" : ""}`;
  log(`[${cellNo}/${of}] ${label}: ${WARMUP ? `${WARMUP} s warm-up + ` : ""}${SECONDS} s`);
  const server = cell.server === "gha-metrics" ? await startGm(dir, cell.tls) : await startNode(dir);
  const pid = server.child.pid;
  try {
    if (cell.dupId) {
      // The one delivery h2load will repeat: accepted (and synced) once, before the clock starts.
      const r = await httpRequest(`${server.base}/webhook`, {
        method: "POST",
        body: PAYLOAD.body,
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_run",
          "x-github-delivery": cell.dupId,
          "x-hub-signature-256": PAYLOAD.signature,
        },
      });
      if (r.status !== 202) throw new Error(`pre-accepting the repeated delivery: ${r.status} ${r.body}`);
    }
    if (WARMUP > 0) await runTool(cell, server, WARMUP, dir, "warmup");
    const before = await settle(server);
    const cpu0 = procCpuSeconds(pid);
    const t0 = process.hrtime.bigint();
    const res = await runTool(cell, server, SECONDS, dir, "run");
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = procCpuSeconds(pid);
    const after = await settle(server);
    const rssKb = procStatusKb(pid, "VmHWM");
    const rec = summarize(cell, res, before, after, (cpu1 - cpu0) / wall, rssKb);
    log(`        ${fmtInt(rec.rps)}/s  p50 ${fmtMs(rec.p50)}  p99 ${fmtMs(rec.p99)}  max ${fmtMs(rec.max)} ms  ` +
      `cpu ${rec.serverCpu.toFixed(2)}  rss ${rec.rssMb.toFixed(1)} MB` +
      `${rec.pendingAfter ? `  (${rec.pendingAfter} not yet processed)` : ""}  ${rec.check}`);
    return rec;
  } finally {
    await stopServer(server);
    if (!env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(cell, res, before, after, serverCpu, rssKb) {
  const delta = {};
  for (const k of new Set([...Object.keys(before.outcomes), ...Object.keys(after.outcomes)]))
    delta[k] = (after.outcomes[k] ?? 0) - (before.outcomes[k] ?? 0);
  const st = res.status;
  const ok2xx = Object.entries(st).filter(([c]) => c.startsWith("2")).reduce((a, [, n]) => a + n, 0);
  const non2xx = Object.entries(st).filter(([c]) => !c.startsWith("2")).reduce((a, [, n]) => a + n, 0);
  const errors = Object.values(res.errors ?? {}).reduce((a, b) => a + b, 0);
  const want = cell.dupId ? "duplicate" : "accepted";
  const wantCode = cell.dupId ? "200" : "202";
  const got = delta[want] ?? 0;
  const problems = [];
  if (non2xx) problems.push(`${non2xx} non-2xx (${JSON.stringify(st)})`);
  if (errors) problems.push(`${errors} socket/transfer errors (${JSON.stringify(res.errors)})`);
  if ((st[wantCode] ?? 0) !== ok2xx) problems.push(`2xx other than ${wantCode}: ${JSON.stringify(st)}`);
  // wrk and h2load drop the requests in flight when the time is up; the server may still accept them.
  if (got < ok2xx || got - ok2xx > res.slack)
    problems.push(`server counted ${got} ${want}, the tool ${ok2xx} × ${wantCode}`);
  for (const [k, n] of Object.entries(delta)) if (k !== want && n !== 0) problems.push(`${n} ${k}`);
  if (ok2xx === 0) problems.push("nothing answered");
  const syncs = after.syncs !== null && before.syncs !== null ? after.syncs - before.syncs : null;
  const accepted = delta.accepted ?? 0;
  return {
    server: cell.server,
    tool: cell.tool,
    proto: cell.proto,
    conns: cell.conns,
    path: cell.dupId ? "duplicate" : "accepted",
    seconds: res.duration_us / 1e6,
    ok2xx,
    serverCounted: got,
    rps: ok2xx / (res.duration_us / 1e6),
    p50: res.latency_us.p50 / 1000,
    p99: res.latency_us.p99 / 1000,
    max: res.latency_us.max / 1000,
    serverCpu,
    clientCpu: res.clientCpu / (res.duration_us / 1e6),
    rssMb: (rssKb * 1024) / 1e6,
    perSync: syncs && accepted ? accepted / syncs : null,
    pendingAfter: after.pending,
    check: problems.length ? `MISMATCH: ${problems.join("; ")}` : `ok (${got} ${want} = ${ok2xx} × ${wantCode}` +
      `${got > ok2xx ? ` + ${got - ok2xx} in flight at the stop` : ""})`,
    ok: problems.length === 0,
  };
}

// ------------------------------------------------------------- output ----

const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

/** A markdown table; `align` has one letter per column, l or r. */
function table(head, rows, align) {
  const rule = head.map((_, i) => ((align ?? "")[i] === "r" ? "---:" : "---"));
  return [`| ${head.join(" | ")} |`, `|${rule.join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function report(results) {
  const out = [];
  const osRelease = readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] ?? "";
  const cpu = os.cpus();
  let fs = "";
  try {
    fs = execFileSync("findmnt", ["-n", "-o", "SOURCE,FSTYPE", "-T", WORK]).toString().trim().replace(/\s+/, " ");
  } catch {
    fs = execFileSync("stat", ["-f", "-c", "%T", WORK]).toString().trim();
  }
  const ver = (cmd, args, re) => {
    try {
      const s = execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
      return s.match(re)?.[1] ?? "?";
    } catch (e) {
      return `${e.stdout ?? ""}${e.stderr ?? ""}`.match(re)?.[1] ?? "?";
    }
  };
  out.push(`## Ingest benchmark (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`, "");
  out.push(`- machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `${osRelease}, Linux ${os.release()}; spool on ${fs} (fdatasync on)`);
  out.push(`- gha-metrics ${ver(GM_BIN, ["version"], /gha-metrics (\S+)/)} (Release, server.threads 2, log.level warn); ` +
    `baseline: Node.js ${process.version} + @octokit/webhooks ${WEBHOOKS_VERSION}, one process`);
  out.push(`- load: wrk ${ver("wrk", ["-v"], /wrk (\S+)/)}, h2load ${ver("h2load", ["--version"], /nghttp2\/(\S+)/)}, ` +
    `h2post (libcurl ${ver("curl-config", ["--version"], /libcurl (\S+)/)}); on the same 2 cores as the server`);
  out.push(`- each delivery: the ${PAYLOAD.body.length.toLocaleString("en-US")}-byte workflow_run example ` +
    `(completed) signed with X-Hub-Signature-256, a distinct X-GitHub-Delivery per request; ` +
    `${SECONDS} s per cell after ${WARMUP} s of warm-up, a fresh server and spool per cell`);
  out.push("");

  const cellRow = (r) => [r.server, r.tool, r.proto, r.conns, fmtInt(r.rps), fmtMs(r.p50), fmtMs(r.p99), fmtMs(r.max),
    r.serverCpu.toFixed(2), r.clientCpu.toFixed(2), r.rssMb.toFixed(1)];
  const cellHead = ["server", "load", "protocol", "conns", "deliveries/s", "p50 ms", "p99 ms", "max ms", "server CPU",
    "client CPU", "peak RSS MB"];
  const ingest = results.filter((r) => r.path === "accepted");
  const dups = results.filter((r) => r.path === "duplicate");
  if (ingest.length) {
    out.push("### Ingest: every request a new delivery (verify → spool append → fdatasync → 202)", "");
    out.push(table([...cellHead, "per fsync", "check"],
      ingest.map((r) => [...cellRow(r), r.perSync === null ? "" : r.perSync.toFixed(1), r.ok ? "ok" : "**MISMATCH**"]),
      "lllrrrrrrrrrl"));
    out.push("");
    out.push("CPU: user + system seconds per wall second of the server process, all threads (2.00 = both cores), and " +
      "of the load generator. Peak RSS: VmHWM. Per fsync: deliveries accepted per group commit (the Node.js " +
      "baseline syncs once per delivery). Check: /metrics counted as accepted exactly the 202s the load generator " +
      "saw, plus at most the requests wrk had in flight when it stopped; no other outcome, no non-2xx, no socket error.");
    out.push("");
  }
  if (dups.length) {
    out.push("### h2load: one delivery id repeated (the duplicate path; no fsync, not ingest)", "");
    const dupHead = cellHead.map((h) => (h === "deliveries/s" ? "answers/s" : h));
    out.push(table([...dupHead, "check"], dups.map((r) => [...cellRow(r), r.ok ? "ok" : "**MISMATCH**"]),
      "lllrrrrrrrrl"));
    out.push("");
    out.push("h2load sends the same headers with every request, so it cannot give each one its own X-GitHub-Delivery. " +
      "Here the id was accepted once before the clock started and every measured request repeats it: gha-metrics " +
      "verifies the signature, validates the payload, finds the id in its ledger and answers 200 \"duplicate\" " +
      "without writing. That is what a redelivery storm costs, not ingest; the HTTP/2 ingest figures above come " +
      "from h2post. Check: /metrics counted as duplicates exactly the 200s h2load saw (plus those in flight at " +
      "its stop), and nothing accepted.");
    out.push("");
  }
  const bad = results.filter((r) => !r.ok);
  for (const r of bad) out.push(`- **${r.server} ${r.tool} ${r.proto} c=${r.conns}**: ${r.check}`);
  if (bad.length) out.push("");

  const gm = (c) => results.find((r) => r.server === "gha-metrics" && r.tool === "wrk" && r.conns === c);
  const nd = (c) => results.find((r) => r.server === "node-baseline" && r.tool === "wrk" && r.conns === c);
  const pairs = CONNS.filter((c) => gm(c) && nd(c));
  if (pairs.length) {
    out.push("### gha-metrics vs the Node.js baseline (wrk, HTTP/1.1)", "");
    out.push(table(
      ["conns", "gha-metrics /s", "Node.js /s", "ratio", "p99 ms gha-metrics / Node.js", "CPU gha-metrics / Node.js",
        "peak RSS MB gha-metrics / Node.js"],
      pairs.map((c) => {
        const a = gm(c), b = nd(c);
        return [c, fmtInt(a.rps), fmtInt(b.rps), `${(a.rps / b.rps).toFixed(1)}×`, `${fmtMs(a.p99)} / ${fmtMs(b.p99)}`,
          `${a.serverCpu.toFixed(2)} / ${b.serverCpu.toFixed(2)}`, `${a.rssMb.toFixed(1)} / ${b.rssMb.toFixed(1)}`];
      }),
      "rrrrrrr",
    ));
    out.push("");
  }

  out.push("### Goals (2 cores, fsync on)", "");
  const rows = [];
  const verdict = (ok) => (ok === null ? "not measured" : ok ? "met" : "**missed**");
  const h1 = CONNS.map(gm).filter(Boolean);
  if (h1.length) {
    const best = h1.reduce((a, b) => (b.rps > a.rps ? b : a));
    const at16 = gm(16);
    rows.push(["≥ 5,000 deliveries/s", `${fmtInt(best.rps)}/s (best: wrk HTTP/1.1, ${best.conns} conns)` +
      (at16 && at16 !== best ? `; ${fmtInt(at16.rps)}/s at 16` : ""), verdict(best.rps >= 5000)]);
  } else rows.push(["≥ 5,000 deliveries/s", "—", verdict(null)]);
  const g16 = gm(16);
  rows.push(["p99 < 10 ms at 16 connections", g16 ? `${fmtMs(g16.p99)} ms (wrk HTTP/1.1)` : "—",
    verdict(g16 ? g16.p99 < 10 : null)]);
  if (results.some((r) => r.server === "gha-metrics")) {
    const all = results.filter((r) => r.server === "gha-metrics");
    const top = all.reduce((a, b) => (b.rssMb > a.rssMb ? b : a));
    rows.push(["peak RSS < 64 MB", `${top.rssMb.toFixed(1)} MB (highest cell: ${top.tool} ${top.proto} ${top.conns} conns)`,
      verdict(top.rssMb < 64)]);
  } else rows.push(["peak RSS < 64 MB", "—", verdict(null)]);
  const n16 = nd(16);
  if (g16 && n16) {
    const others = pairs.filter((c) => c !== 16).map((c) => `${c}: ${(gm(c).rps / nd(c).rps).toFixed(1)}×`);
    rows.push(["≥ 5× the Node.js baseline (16 connections)", `${(g16.rps / n16.rps).toFixed(1)}×` +
      (others.length ? ` (${others.join(", ")})` : ""), verdict(g16.rps / n16.rps >= 5)]);
  } else rows.push(["≥ 5× the Node.js baseline (16 connections)", "—", verdict(null)]);
  out.push(table(["goal", "measured", "result"], rows, "lll"));
  if (bad.length) out.push("", `**${bad.length} cell(s) failed the /metrics check: their figures are not valid.**`);
  return out.join("\n");
}

// --------------------------------------------------------------- main ----

const PAYLOAD = prepare();
PAYLOAD.signature = await sign(PAYLOAD.secret, PAYLOAD.body);
let WEBHOOKS_VERSION = "?";
try {
  const from = env.BENCH_WEBHOOKS_FROM ? path.resolve(env.BENCH_WEBHOOKS_FROM) : path.join(REPO, "node_modules");
  WEBHOOKS_VERSION = JSON.parse(readFileSync(path.join(from, "@octokit/webhooks/package.json"), "utf8")).version;
} catch {
  /* reported as ? */
}

const cells = [];
for (const c of CONNS) {
  if (SUITES.has("wrk")) cells.push({ server: "gha-metrics", tool: "wrk", proto: "HTTP/1.1", conns: c });
  if (SUITES.has("node")) cells.push({ server: "node-baseline", tool: "wrk", proto: "HTTP/1.1", conns: c });
}
if (SUITES.has("h2"))
  for (const c of CONNS) cells.push({ server: "gha-metrics", tool: "h2post", proto: "HTTP/2+TLS", conns: c, tls: true });
if (SUITES.has("h2load"))
  for (const c of H2LOAD_CONNS) {
    const dupId = () => `${newTag()}-d0d0-4000-8000-000000000001`;
    cells.push({ server: "gha-metrics", tool: "h2load", proto: "HTTP/1.1", conns: c, dupId: dupId() });
    cells.push({ server: "gha-metrics", tool: "h2load", proto: "HTTP/2+TLS", conns: c, tls: true, dupId: dupId() });
  }

const results = [];
for (const cell of cells) {
  try {
    results.push(await runCell(cell, cells.length));
  } catch (err) {
    log(`bench: ${cell.server} ${cell.tool} ${cell.proto} c=${cell.conns} failed: ${err.message}`);
    killAll();
    process.exit(1);
  }
}
if (env.BENCH_RESULTS) writeFileSync(env.BENCH_RESULTS, JSON.stringify(results, null, 2) + "\n");
console.log(report(results));
process.exit(results.every((r) => r.ok) ? 0 : 1);
