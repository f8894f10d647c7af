// The backfill benchmark (bench/backfill/run): builds a realistic organisation in the GitHub stand-in —
// most repositories quiet, a few busy, one past the 1,000-result cap — and measures what
// `gha-metrics backfill` spends on it: a dry run (listing only), a full run that hands every missing
// run to a real receiver, and the same full run again right after (ETags: only 304s).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { makeRun, startGithub } from "../../tests/servers/github.mjs";

const REPOS = Number(process.argv[2] ?? 500);
const DAYS = Number(process.argv[3] ?? 2);
const BIN = process.env.GM_BIN ?? path.resolve("build/release/gha-metrics");
const TOKEN = "ghp_bench";
const HOUR = 3_600_000;
const UNTIL = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const SINCE = UNTIL - DAYS * 24 * HOUR;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

// Runs per day by repository: 70 % quiet (0–5), 25 % active (10–60), 5 % busy (150–400), and one
// monorepo at 800 a day (past the cap over two days). Deterministic.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
function runsPerDay(i) {
  if (i === 0) return 800;
  const r = rand();
  if (r < 0.7) return Math.floor(rand() * 6);
  if (r < 0.95) return 10 + Math.floor(rand() * 51);
  return 150 + Math.floor(rand() * 251);
}

function exec(args, env = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => resolve({ code, out, err, ms: performance.now() - t0 }));
  });
}

function startReceiver(dir, configPath) {
  return new Promise((resolve, reject) => {
    const c = spawn(BIN, ["serve", "--config", configPath], { stdio: ["ignore", "ignore", "pipe"] });
    let buf = "";
    c.stderr.on("data", (d) => {
      buf += d;
      const m = buf.match(/"msg":"listening"[^\n]*"address":"([^"]+)"/) || buf.match(/"address":"([^"]+)"[^\n]*"msg":"listening"/);
      if (m) resolve({ child: c, address: m[1] });
    });
    c.on("close", (code) => reject(new Error(`receiver exited ${code}: ${buf}`)));
  });
}

const gh = await startGithub({ token: TOKEN, rateLimit: { limit: 15000 } });
let total = 0;
let lowerBound = 0;
for (let i = 0; i < REPOS; i++) {
  const repo = `bench-org/repo-${String(i).padStart(3, "0")}`;
  gh.addRepo(repo);
  const n = runsPerDay(i) * DAYS;
  for (let k = 0; k < n; k++) {
    const created = SINCE + Math.floor(((k + 0.5) * (UNTIL - SINCE)) / n);
    gh.addRun(repo, makeRun({ created_at: iso(created), status: "completed", conclusion: "success" }));
  }
  total += n;
  lowerBound += Math.max(1, Math.ceil(n / 100));
}

const dir = mkdtempSync(path.join(os.tmpdir(), "gm-bench-backfill-"));
const secret = "bench-secret-0123456789";
const repos = Array.from({ length: REPOS }, (_, i) => `bench-org/repo-${String(i).padStart(3, "0")}`);
const base = [
  "server:", "  listen:", "    - address: 127.0.0.1:0", "  threads: 2",
  "webhook:", `  secrets: [${secret}]`,
  "spool:", `  dir: ${dir}/spool`, "  min_free: 1MiB",
  "publish:", "  sink: emf-file", `  file: ${dir}/metrics.emf.jsonl`,
];
const serveConfig = path.join(dir, "serve.yaml");
writeFileSync(serveConfig, base.join("\n") + "\n");
const receiver = await startReceiver(dir, serveConfig);
const bfConfig = path.join(dir, "backfill.yaml");
writeFileSync(bfConfig, [...base, "backfill:", "  github:", `    url: ${gh.url}`, "    token: env:GM_BENCH_TOKEN",
  `  receiver: http://${receiver.address}/webhook`, "  repositories:", ...repos.map((r) => `    - ${r}`)].join("\n") + "\n");

const rows = [];
async function measure(label, extra) {
  gh.clear();
  const r = await exec(["backfill", "--config", bfConfig, "--since", iso(SINCE), "--until", iso(UNTIL), "--json", ...extra], { GM_BENCH_TOKEN: TOKEN });
  if (r.code !== 0) throw new Error(`${label}: exit ${r.code}\n${r.err.slice(-2000)}`);
  const s = JSON.parse(r.out.slice(r.out.indexOf("{")));
  const c = gh.counts();
  const cache = path.join(dir, "spool", "github-etags.json");
  rows.push({ etagBytes: existsSync(cache) ? statSync(cache).size : 0, label, requests: c.requests, notModified: c.notModified, counted: c.counted, stored: s.runs_stored, split: s.windows_split, ms: r.ms });
}
await measure("dry run (listing only)", ["--dry-run"]);
rmSync(path.join(dir, "spool", "github-etags.json"), { force: true }); // cold again
await measure("full: every run handed to the receiver", []);
await new Promise((r) => setTimeout(r, 1500)); // the receiver's next checkpoint
await measure("again right after", []);
receiver.child.kill("SIGTERM");
await gh.close();

const pad = (s, n) => String(s).padEnd(n);
const num = (s, n) => String(s).padStart(n);
console.log(`${REPOS} repositories × ${DAYS} days: ${total} completed runs; lower bound ${lowerBound} listing requests (one per 100 runs, at least one per repository)\n`);
console.log(`${pad("run", 42)}${num("requests", 9)}${num("304s", 7)}${num("billed", 8)}${num("vs bound", 10)}${num("splits", 8)}${num("stored", 8)}${num("wall s", 8)}${num("ETag KB", 9)}`);
for (const r of rows)
  console.log(`${pad(r.label, 42)}${num(r.requests, 9)}${num(r.notModified, 7)}${num(r.counted, 8)}${num((r.requests / lowerBound).toFixed(2) + "×", 10)}${num(r.split, 8)}${num(r.stored, 8)}${num((r.ms / 1000).toFixed(1), 8)}${num((r.etagBytes / 1024).toFixed(0), 9)}`);
console.log("\nbilled: requests counted against the hourly limit (a 304 is free); ETag KB: the size of spool.dir/github-etags.json after the run. Machine: " + `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "?"}`);
