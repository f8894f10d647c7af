// Test harness for the black-box integration tests: starts the real
// gha-metrics binary on ephemeral ports in a fresh temporary directory and
// talks to it with the real curl binary.
//
// Environment (set by ctest, see tests/CMakeLists.txt):
//   GM_BIN         path of the gha-metrics binary (default build/dev/gha-metrics)
//   GM_SOURCE_DIR  repository root (default: two levels above this folder)

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

import { curl } from "./curl.mjs";
import { parseMetrics } from "./metrics.mjs";

export { curl, explain } from "./curl.mjs";
export { sign, signBody, deliver, formBody } from "./deliver.mjs";
export { loadExamples, examplesOf, example, freshId, freshIds, attemptKey } from "./examples.mjs";
export { parseMetrics } from "./metrics.mjs";

export const SOURCE_DIR =
  process.env.GM_SOURCE_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = process.env.GM_BIN ?? path.join(SOURCE_DIR, "build/dev/gha-metrics");

export const SECRET = "integration-test-secret-9f2c1e7a";

const live = new Set(); // servers still running: killed if the test process exits early
const tempDirs = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
  if (!process.env.GM_KEEP_TMP) for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits (keep it with GM_KEEP_TMP=1). */
export function tempDir(prefix = "gm-it-") {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Resolves to `value` after ms. The timer does not keep the process alive: only race it against
 * something that does (a child process). */
export function sleep(ms, value) {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** Polls fn() until it returns a truthy value (which is returned); throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs)); // a ref'd timer: the poll keeps the process alive
  }
}

// ---------------------------------------------------------------- YAML ----

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return JSON.stringify(v); // a JSON string is a YAML double-quoted scalar
  return String(v);
}

/** Block-style YAML for plain objects, arrays and scalars (enough for config files). */
export function toYaml(value, indent = 0) {
  const pad = " ".repeat(indent);
  const isEmpty = (v) => (Array.isArray(v) ? v.length === 0 : isPlainObject(v) && Object.keys(v).length === 0);
  const inline = (v) => (Array.isArray(v) ? "[]" : isPlainObject(v) ? "{}" : scalar(v));
  const complex = (v) => (Array.isArray(v) || isPlainObject(v)) && !isEmpty(v);
  let out = "";
  if (Array.isArray(value)) {
    for (const item of value) {
      if (complex(item)) {
        const inner = toYaml(item, indent + 2);
        out += `${pad}- ${inner.slice(indent + 2)}`;
      } else {
        out += `${pad}- ${inline(item)}\n`;
      }
    }
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out += complex(v) ? `${pad}${k}:\n${toYaml(v, indent + 2)}` : `${pad}${k}: ${inline(v)}\n`;
    }
  } else {
    out += `${pad}${scalar(value)}\n`;
  }
  return out;
}

/** Deep merge of plain objects; arrays and scalars in `over` replace; undefined leaves `base`; null deletes. */
export function merge(base, over) {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = merge(base[k], v);
  }
  return out;
}

/** The configuration every test starts from: one plain listener on a kernel-chosen port. */
export function baseConfig(dir) {
  return {
    server: { listen: [{ address: "127.0.0.1:0" }], threads: 2 },
    webhook: { path: "/webhook", secrets: [SECRET], max_body: "1MiB" },
    spool: { dir: path.join(dir, "spool") },
    publish: { sink: "emf-file", file: path.join(dir, "metrics.emf.jsonl"), namespace: "GitHubActions" },
    teams: { platform: ["octo-org/octo-repo"] },
    log: { level: "info" },
  };
}

// ------------------------------------------------------------- process ----

/** Runs the binary to completion: { code, signal, stdout, stderr }. */
export function run(args, { cwd, env = {}, timeoutMs = 15_000 } = {}) {
  assertBinary();
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function assertBinary() {
  if (!existsSync(BIN)) {
    throw new Error(`gha-metrics binary not found at ${BIN}: build it, or set GM_BIN`);
  }
}

/**
 * Starts `gha-metrics serve --config <tmp>/config.yaml` and waits until every
 * listener has logged {"msg":"listening"} and answers /healthz.
 *
 * options:
 *   config   overrides merged into baseConfig() (arrays replace, null deletes a key)
 *   env      extra environment variables
 *   dir      working directory (default: a fresh temporary one). The spool, its ledger and the
 *            EMF file live in it, so starting again in the directory of a stopped server (see
 *            restartServer) carries on with the same spool, ledger and EMF file.
 *   args     replaces the command line (then config is still written, but only used if args name it)
 *   waitReady false: do not wait for listeners (for servers expected to fail)
 */
export async function startServer({ config = {}, env = {}, dir, args, waitReady = true } = {}) {
  assertBinary();
  dir ??= tempDir();
  const cfg = merge(baseConfig(dir), config);
  const configPath = path.join(dir, "config.yaml");
  writeFileSync(configPath, toYaml(cfg));

  const child = spawn(BIN, args ?? ["serve", "--config", configPath], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);

  const srv = {
    dir,
    options: { config, env, args }, // as given: restartServer() passes them again
    config: cfg,
    configPath,
    emfPath: cfg.publish?.file,
    child,
    pid: child.pid,
    stdout: "",
    stderr: "",
    stderrLines: [],
    logs: [], // stderr lines that parsed as JSON objects
    listeners: [], // { address, port, tls, url }
    exit: null, // { code, signal } once exited
  };
  const exited = new Promise((resolve) => {
    child.on("close", (code, signal) => {
      live.delete(child);
      srv.exit = { code, signal };
      resolve(srv.exit);
    });
  });
  srv.exited = exited;

  let partial = "";
  child.stdout.on("data", (d) => (srv.stdout += d));
  child.stderr.on("data", (d) => {
    srv.stderr += d;
    partial += d;
    let nl;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      srv.stderrLines.push(line);
      try {
        const obj = JSON.parse(line);
        if (isPlainObject(obj)) srv.logs.push(obj);
      } catch {
        /* not a JSON line */
      }
    }
  });

  /** The first log object matching pred (polls). */
  srv.waitForLog = (pred, what = "a log line", timeoutMs = 10_000) =>
    waitFor(() => srv.logs.find(pred), { timeoutMs, what });

  /** SIGTERM, wait for exit, assert exit code 0. */
  srv.stop = async (signal = "SIGTERM") => {
    if (!srv.exit) child.kill(signal);
    const res = await Promise.race([exited, sleep(15_000, null)]);
    if (!res) {
      child.kill("SIGKILL");
      await exited;
      assert.fail(`gha-metrics did not exit within 15 s of ${signal}\n${summary(srv)}`);
    }
    assert.equal(res.code, 0, `gha-metrics exited with ${res.code ?? res.signal} after ${signal}\n${summary(srv)}`);
    return res;
  };
  /** The exit status within ms, or null if it is still running. */
  srv.exitWithin = (ms) => Promise.race([exited, sleep(ms, null)]);
  srv.kill = () => {
    if (!srv.exit) child.kill("SIGKILL");
    return exited;
  };

  srv.get = (p, opts = {}) => curl(srv.url + p, { insecure: true, ...opts });
  /** GET /metrics parsed: .get(name, labels), .sum(name, labelFilter), .text */
  srv.metrics = async () => {
    const res = await srv.get("/metrics");
    assert.equal(res.status, 200, `GET /metrics answered ${res.status}: ${res.text}`);
    return parseMetrics(res.text);
  };
  /** Every line of the EMF file parsed as JSON (asserts each line parses). */
  srv.emfRecords = () => readEmf(srv.emfPath);
  srv.waitForEmf = (n, timeoutMs = 10_000) =>
    waitFor(() => srv.emfRecords().length >= n && srv.emfRecords(), { timeoutMs, what: `${n} EMF lines` });
  /**
   * Polls /metrics until processing has caught up with the spool, and returns that snapshot:
   * gha_metrics_spool_pending is 0 (a delivery is pending from its append, before its 2xx, until
   * its record is written and the checkpoint past it is durable) and gha_metrics_processed_total
   * has reached gha_metrics_spool_appended_total. Once every 2xx awaited has come back, this is
   * the positive signal that whatever those deliveries were going to write has been written, so
   * an exact count or an absence can be asserted.
   */
  srv.waitIdle = (timeoutMs = 10_000) =>
    waitFor(async () => {
      const m = await srv.metrics();
      for (const name of ["gha_metrics_spool_pending", "gha_metrics_processed_total", "gha_metrics_spool_appended_total"]) {
        if (!m.has(name)) throw new Error(`/metrics has no ${name}`);
      }
      return m.get("gha_metrics_spool_pending") === 0 &&
        m.get("gha_metrics_processed_total") >= m.get("gha_metrics_spool_appended_total") && m;
    }, { timeoutMs, what: "processing to catch up (gha_metrics_spool_pending 0)" });

  if (!waitReady) return srv;

  const wanted = (cfg.server?.listen ?? []).length || 1;
  try {
    await waitFor(
      () => {
        if (srv.exit) throw new Error(`gha-metrics exited (${srv.exit.code ?? srv.exit.signal}) before listening`);
        const seen = new Map();
        for (const l of srv.logs) if (l.msg === "listening" && l.address) seen.set(`${l.address}|${!!l.tls}`, l);
        return seen.size >= wanted && [...seen.values()];
      },
      { timeoutMs: 15_000, what: `${wanted} "listening" log line(s)` },
    ).then((lines) => {
      srv.listeners = lines.map((l) => {
        const port = Number(String(l.address).match(/:(\d+)$/)[1]);
        const host = String(l.address).replace(/:\d+$/, "");
        return { address: l.address, port, tls: !!l.tls, url: `${l.tls ? "https" : "http"}://${host}:${port}` };
      });
    });
    srv.url = (srv.listeners.find((l) => !l.tls) ?? srv.listeners[0]).url;
    srv.webhookUrl = srv.url + (cfg.webhook?.path ?? "/webhook");
    for (const l of srv.listeners) {
      await waitFor(async () => (await curl(l.url + "/healthz", { insecure: true })).status === 200, {
        what: `GET ${l.url}/healthz = 200`,
      });
    }
  } catch (err) {
    await srv.kill();
    err.message += `\n--- gha-metrics stderr ---\n${summary(srv)}`;
    throw err;
  }
  return srv;
}

/**
 * Starts a new server in the directory of `srv` (which must have exited: stop() or kill() it
 * first) with the same options, so it works on the same spool, ledger and EMF file.
 * `overrides` replace startServer options (config, env, args, waitReady).
 */
export async function restartServer(srv, overrides = {}) {
  assert.ok(srv.exit, "restartServer: the previous server is still running");
  return startServer({ ...srv.options, ...overrides, dir: srv.dir });
}

/**
 * Every line of an EMF file, parsed (a line that is not JSON throws). With { tornTail: true }, a last line
 * without its newline is left out: what a process killed in the middle of a write leaves (a write cut by
 * SIGKILL, or read while it is being copied in), which the next start cuts back to the checkpoint.
 */
export function readEmf(file, { tornTail = false } = {}) {
  if (!file || !existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  if (tornTail && !text.endsWith("\n")) lines.pop();
  return lines
    .filter((l) => l.length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (err) {
        throw new Error(`EMF line ${i + 1} is not JSON (${err.message}): ${l.slice(0, 200)}`);
      }
    });
}

export function tail(text, n = 15) {
  return String(text).split("\n").slice(-n).join("\n");
}

/** For failure messages: the last JSON log lines, then the first other lines (assertions, sanitizer reports). */
export function summary(srv, n = 10) {
  const json = srv.stderrLines.filter((l) => l.startsWith("{")).slice(-n);
  const other = srv.stderrLines.filter((l) => l.trim() && !l.startsWith("{")).slice(0, 8);
  return [...json, ...(other.length ? ["--- other stderr ---", ...other] : [])].join("\n");
}
