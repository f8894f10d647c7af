// Helpers for the crash (durability) and disk-full tests: many distinct signed
// deliveries sent by ONE `curl --parallel` process per burst (one answer line
// per delivery, so every delivery is known to have had a 2xx, an error or no
// answer), polling /metrics until processing has caught up, counting EMF
// records per job, and a small tmpfs to fill.

import { execFile, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { SECRET, example, readEmf, sign, startServer, summary, waitFor } from "./harness.mjs";

/** A completed, successful workflow_job example (8.8 KB), as the template of every generated delivery. */
const TEMPLATE = example("workflow_job", (e) => e.action === "completed" && e.payload.workflow_job.conclusion === "success").payload;

/**
 * `count` distinct completed workflow_job attempts, each with its own
 * workflow_job.id (firstJobId, firstJobId+1, ...) and delivery id, signed with
 * @octokit/webhooks-methods. The bodies are written to files under `dir`
 * (curl sends them with --data-binary @file).
 *
 * Returns [{ delivery, jobId, body, signature, file }].
 */
export async function makeJobDeliveries(dir, count, { firstJobId, secret = SECRET, tag = "d" } = {}) {
  mkdirSync(dir, { recursive: true });
  const out = [];
  for (let i = 0; i < count; i++) {
    const jobId = firstJobId + i;
    const payload = structuredClone(TEMPLATE);
    payload.workflow_job.id = jobId;
    payload.workflow_job.name = `job-${jobId}`;
    const body = JSON.stringify(payload);
    const file = path.join(dir, `${tag}-${jobId}.json`);
    writeFileSync(file, body);
    out.push({ delivery: `${tag}-${jobId}-${randomUUID()}`, jobId, body, signature: await sign(secret, body), file });
  }
  return out;
}

/** Starts gha-metrics again on the same directory and configuration (a new port). */
export function restart(srv) {
  return startServer({ dir: srv.dir, config: srv.config });
}

/** The same delivery (same body, signature and file) under a new delivery id. */
export function withNewDeliveryId(d, tag = "again") {
  return { ...d, delivery: `${tag}-${d.jobId}-${randomUUID()}` };
}

function quote(s) {
  return `"${String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * Sends every delivery with a single `curl --parallel --parallel-max N
 * --config FILE` process. curl prints one line per transfer when it ends:
 * "<delivery> <http_code> <exitcode>" (http_code 000 = no answer).
 *
 * options:
 *   parallel   concurrent transfers (default 32)
 *   event      X-GitHub-Event (default workflow_job)
 *   timeoutMs  per-transfer --max-time (default 20 s)
 *   onAnswer   called (answersSoFar, line) after every line: the hook to kill the server mid-burst
 *   workDir    where the curl config file (and the kept answers) are written
 *   keepBodies true: keep each answer's body, parsed as JSON when it is, as results' `json` / `text`
 *
 * Resolves to { results: Map delivery → { status, exitCode[, text, json] }, answered, exitCode, stderr, ms }.
 * Every delivery gets an entry; one curl never reported is { status: 0, exitCode: -1 }.
 */
export function burst(url, deliveries, { parallel = 32, event = "workflow_job", timeoutMs = 20_000, onAnswer, workDir, keepBodies = false } = {}) {
  if (deliveries.length === 0) return Promise.resolve({ results: new Map(), answered: 0, exitCode: 0, stderr: "", ms: 0 });
  const cfg = [];
  const outDir = path.join(workDir, `answers-${randomUUID()}`);
  if (keepBodies) mkdirSync(outDir);
  for (const d of deliveries) {
    cfg.push(
      `url = ${quote(url)}`,
      `data-binary = ${quote("@" + d.file)}`,
      `header = "Content-Type: application/json"`,
      `header = "User-Agent: GitHub-Hookshot/integration-test"`,
      `header = ${quote(`X-GitHub-Event: ${event}`)}`,
      `header = ${quote(`X-GitHub-Delivery: ${d.delivery}`)}`,
      `header = ${quote(`X-Hub-Signature-256: ${d.signature}`)}`,
      `header = "Expect:"`,
      `output = ${quote(keepBodies ? path.join(outDir, d.delivery) : "/dev/null")}`,
      `max-time = ${Math.ceil(timeoutMs / 1000)}`,
      `write-out = ${quote(`${d.delivery} %{http_code} %{exitcode}\\n`)}`,
    );
    if (d !== deliveries.at(-1)) cfg.push("next"); // a trailing "next" would open a transfer with no URL
  }
  const cfgFile = path.join(workDir, `curl-${randomUUID()}.cfg`);
  writeFileSync(cfgFile, cfg.join("\n") + "\n");

  const started = Date.now();
  const results = new Map();
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", "--no-progress-meter", "--parallel", "--parallel-immediate", "--parallel-max", String(parallel), "--config", cfgFile], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    let stderr = "";
    let answered = 0;
    child.stderr.on("data", (d) => {
      if (stderr.length < 100_000) stderr += d;
    });
    child.stdout.on("data", (chunk) => {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        const [delivery, code, exit] = line.trim().split(" ");
        if (!delivery) continue;
        const status = Number(code) || 0;
        results.set(delivery, { status, exitCode: Number(exit) });
        if (status !== 0) answered++;
        onAnswer?.(answered, line);
      }
    });
    child.on("error", reject);
    child.on("close", (exitCode) => {
      for (const d of deliveries) {
        if (!results.has(d.delivery)) results.set(d.delivery, { status: 0, exitCode: -1 });
        if (keepBodies) {
          const r = results.get(d.delivery);
          try {
            r.text = readFileSync(path.join(outDir, d.delivery), "utf8");
          } catch {
            r.text = "";
          }
          try {
            r.json = JSON.parse(r.text);
          } catch {
            r.json = undefined;
          }
        }
      }
      resolve({ results, answered, exitCode, stderr, ms: Date.now() - started });
    });
  });
}

/** Counts of a burst's answers: { "202": n, "000": n, ... } plus helpers. */
export function tally(results) {
  const byStatus = {};
  for (const { status } of results.values()) {
    const k = String(status).padStart(3, "0");
    byStatus[k] = (byStatus[k] ?? 0) + 1;
  }
  return byStatus;
}

export const is2xx = (status) => status >= 200 && status < 300;

/** Map JobId → number of EMF job records in the file (asserts every line parses). */
export function emfJobCounts(file, opts) {
  const counts = new Map();
  for (const rec of readEmf(file, opts)) {
    if (rec.RecordType !== "job") continue;
    counts.set(rec.JobId, (counts.get(rec.JobId) ?? 0) + 1);
  }
  return counts;
}

/**
 * Polls /metrics until the spool has nothing pending and processing has seen
 * at least `minProcessed` deliveries (gha_metrics_processed_total); returns
 * the parsed metrics.
 */
export async function waitCaughtUp(srv, { minProcessed = 0, timeoutMs = 30_000 } = {}) {
  try {
    return await waitFor(
      async () => {
        if (srv.exit) throw new Error(`gha-metrics exited (${srv.exit.code ?? srv.exit.signal})`);
        const m = await srv.metrics();
        return m.get("gha_metrics_spool_pending") === 0 && m.get("gha_metrics_processed_total") >= minProcessed && m;
      },
      { timeoutMs, intervalMs: 100, what: `gha_metrics_spool_pending == 0 and processed_total >= ${minProcessed}` },
    );
  } catch (err) {
    err.message += `\n--- gha-metrics stderr ---\n${summary(srv)}`;
    throw err;
  }
}

// ---------------------------------------------------------------- tmpfs ----

function exec(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, code: err ? err.code : 0, stdout, stderr: String(stderr || err?.message || "").trim() }),
    );
  });
}

const mounts = new Set(); // still mounted: lazily unmounted if the test process exits early
process.on("exit", () => {
  for (const dir of mounts) {
    try {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" });
      rmdirSync(dir);
    } catch {
      /* best effort */
    }
  }
});

/**
 * Mounts a tmpfs of `size` (e.g. "4m") on a new directory of its own (not one
 * of the harness's temporary directories, which are deleted at exit).
 * Resolves { ok: true, dir } or { ok: false, reason }.
 */
export async function mountTmpfs(size) {
  const dir = mkdtempSync(path.join(tmpdir(), "gm-tmpfs-"));
  const r = await exec("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  if (!r.ok) {
    rmdirSync(dir);
    return { ok: false, reason: `mount -t tmpfs -o size=${size} tmpfs ${dir} failed: ${r.stderr || `exit ${r.code}`}` };
  }
  mounts.add(dir);
  return { ok: true, dir };
}

/** mount -o remount,size=SIZE DIR */
export async function resizeTmpfs(dir, size) {
  const r = await exec("mount", ["-o", `remount,size=${size}`, dir]);
  if (!r.ok) throw new Error(`mount -o remount,size=${size} ${dir} failed: ${r.stderr}`);
}

/** Unmounts (lazily, so a straggler cannot block the suite) and removes the mount point. */
export async function unmountTmpfs(dir) {
  const r = await exec("umount", [dir]);
  if (!r.ok) await exec("umount", ["-l", dir]);
  mounts.delete(dir);
  try {
    rmdirSync(dir);
  } catch {
    /* still busy or already gone */
  }
}

/** Free bytes of the filesystem holding `dir` (df -B1 --output=avail). */
export async function freeBytes(dir) {
  const r = await exec("df", ["-B1", "--output=avail", dir]);
  if (!r.ok) throw new Error(`df ${dir} failed: ${r.stderr}`);
  return Number(r.stdout.trim().split("\n").at(-1));
}

// ------------------------------------------------------- spool segments ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[b] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of buf, chained from crc (0 to start). */
export function crc32c(buf, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const FRAME_MAGIC = 0x31534d47; // "GMS1"
const FRAME_HEADER = 12;
const ENTRY_HEADER = 16;

/**
 * Reads every segment file (NNNNNNNNNNNNNNNNNNNN.seg) of a spool directory the
 * way the issue defines them: magic u32 | length u32 | crc32c(length, payload)
 * u32 | payload, the payload being one delivery (version, flags, event_len,
 * delivery_len, body_len u32, received_at_ms i64, event, delivery, body).
 *
 * Returns { segments: [{ name, size }], frames: [{ segment, offset, event, delivery, bodyLen }],
 *           problems: [text] } — a problem is anything that is not a whole, valid frame.
 */
export function readSpool(dir) {
  const segments = [];
  const frames = [];
  const problems = [];
  for (const name of readdirSync(dir).filter((n) => /^\d{20}\.seg$/.test(n)).sort()) {
    const buf = readFileSync(path.join(dir, name));
    segments.push({ name, size: buf.length });
    let off = 0;
    while (off < buf.length) {
      const left = buf.length - off;
      if (left < FRAME_HEADER) {
        problems.push(`${name}@${off}: ${left} trailing bytes, less than a frame header`);
        break;
      }
      const magic = buf.readUInt32LE(off);
      const len = buf.readUInt32LE(off + 4);
      const crc = buf.readUInt32LE(off + 8);
      if (magic !== FRAME_MAGIC) {
        problems.push(`${name}@${off}: bad magic 0x${magic.toString(16)}`);
        break;
      }
      if (left - FRAME_HEADER < len) {
        problems.push(`${name}@${off}: frame of ${len} bytes, only ${left - FRAME_HEADER} present (torn)`);
        break;
      }
      const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
      if (crc32c(payload, crc32c(buf.subarray(off + 4, off + 8))) !== crc) {
        problems.push(`${name}@${off}: CRC mismatch`);
        break;
      }
      const evLen = payload[2];
      const dlLen = payload[3];
      const bodyLen = payload.readUInt32LE(4);
      if (payload[0] !== 1 || ENTRY_HEADER + evLen + dlLen + bodyLen !== len) {
        problems.push(`${name}@${off}: not a valid delivery entry`);
      } else {
        frames.push({
          segment: name,
          offset: off,
          event: payload.toString("latin1", ENTRY_HEADER, ENTRY_HEADER + evLen),
          delivery: payload.toString("latin1", ENTRY_HEADER + evLen, ENTRY_HEADER + evLen + dlLen),
          bodyLen,
        });
      }
      off += FRAME_HEADER + len;
    }
  }
  return { segments, frames, problems };
}

/** The size of the frame a delivery takes in the spool. */
export function frameSize(d, event = "workflow_job") {
  return FRAME_HEADER + ENTRY_HEADER + Buffer.byteLength(event) + Buffer.byteLength(d.delivery) + Buffer.byteLength(d.body);
}
