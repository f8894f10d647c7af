#!/usr/bin/env node
// A test stand-in for the parts of the GitHub REST API gha-metrics' backfill talks to, on one HTTP port:
//
//   GET  /repos/{o}/{r}/actions/runs            created / status / branch / event / actor / head_sha /
//                                               check_suite_id / exclude_pull_requests, per_page, page;
//                                               created_at desc; Link pagination; the 1,000-result cap
//   GET  /repos/{o}/{r}/actions/runs/{id}[/attempts/{n}]
//   GET  /repos/{o}/{r}/actions/runs/{id}/jobs?filter=latest|all, .../attempts/{n}/jobs (paginated)
//   GET  /repos/{o}/{r}                         (and /repositories/{repo_id}/... for every repo path)
//   GET  /orgs/{org}/repos, GET /installation/repositories (paginated)
//   GET  /orgs/{org}/hooks/{hook_id}/deliveries[/{id}], POST .../deliveries/{id}/attempts (cursor pages)
//   GET  /repos/{o}/{r}/hooks/{hook_id}/deliveries[/{id}], POST .../attempts
//   GET  /app/hook/deliveries[/{id}], POST /app/hook/deliveries/{id}/attempts, GET /app   (app JWT only)
//   POST /app/installations/{id}/access_tokens (app JWT, RS256 verified) → installation token (1 h)
//   GET  /rate_limit                            (free)
//   /_control/...                               inspection, data set-up and fault injection over HTTP
//
// Every API answer: x-ratelimit-limit|remaining|used|reset|resource (core), x-github-request-id; every
// 200 GET a weak ETag W/"<sha1 of body>"; If-None-Match hit → 304, not counted against the limit.
// Requests need User-Agent (403 otherwise, as GitHub), Accept: application/vnd.github+json (415) and
// X-GitHub-Api-Version: 2022-11-28 (400) — stricter than GitHub, which defaults the last two — and
// Authorization: Bearer|token <token> (401 "Requires authentication" / "Bad credentials").
// Order of checks: User-Agent, injected failures, Accept/version, auth, route (404), secondary limit,
// primary limit (remaining 0 → 403 until reset), handler, ETag/304, counting. One shared "core" bucket.
//
// In-process:   const gh = await startGithub({ token: "ghp_test" });
//               gh.addRepo("o/r"); gh.addRun("o/r", makeRun({ id: 1, created_at: "..." })); ...
// Out of process: node tests/servers/github.mjs --port 0 [--token T]... [--app-id N --app-public-key FILE
//                 --installation-id N] [--fixtures FILE.json]
//                 prints one JSON line {"url", "port", "tokens", "appId", "installationId"};
//                 connectGithub(url) drives it.
//
// Only node: built-ins are used (the @octokit/webhooks-examples package, when installed, gives the run and
// job templates; a built-in minimal template is used otherwise).

import http from "node:http";
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from "node:crypto";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

// ---------------------------------------------------------------------------
// Contracts
// ---------------------------------------------------------------------------

export const API_VERSION = "2022-11-28";
export const MEDIA_TYPE = "application/vnd.github+json";
export const DEFAULT_TOKEN = "ghp_test";
export const DEFAULT_PER_PAGE = 30;
export const RESULT_CAP = 1000;
export const RUN_STATUSES = Object.freeze(["requested", "in_progress", "completed", "queued", "pending", "waiting"]);
export const RUN_CONCLUSIONS = Object.freeze([
  "action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success", "timed_out", "startup_failure",
]);
/** Parameters that make the runs listing a "search" limited to RESULT_CAP results (GitHub's documentation). */
export const CAPPED_RUN_FILTERS = Object.freeze(["actor", "branch", "check_suite_id", "created", "event", "head_sha", "status"]);
const DOCS = "https://docs.github.com/rest";
const MSG = {
  badCredentials: "Bad credentials",
  requiresAuth: "Requires authentication",
  notFound: "Not Found",
  forbiddenIntegration: "Resource not accessible by integration",
  secondary: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID",
  noUserAgent: "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n",
  jwtDecode: "A JSON web token could not be decoded",
};

// ---------------------------------------------------------------------------
// Templates (from @octokit/webhooks-examples when available)
// ---------------------------------------------------------------------------

function loadExamples() {
  try {
    const req = createRequire(import.meta.url);
    const all = req("@octokit/webhooks-examples/api.github.com/index.json");
    const runs = all.find((e) => e.name === "workflow_run").examples;
    const jobs = all.find((e) => e.name === "workflow_job").examples;
    const run = runs.find((e) => e.action === "completed" && e.workflow_run.conclusion === "success").workflow_run;
    const job = jobs.find((e) => e.action === "completed").workflow_job;
    return { run: structuredClone(run), job: structuredClone(job), source: "@octokit/webhooks-examples" };
  } catch {
    return {
      run: {
        id: 1, name: "CI", node_id: "", check_suite_id: 1, check_suite_node_id: "", head_branch: "main",
        head_sha: "3484a3fb816e0859fd6e1cea078d76385ff50625", path: ".github/workflows/ci.yml", display_title: "CI",
        run_number: 1, event: "push", status: "completed", conclusion: "success", workflow_id: 1, url: "", html_url: "",
        pull_requests: [], created_at: "2024-01-01T00:00:00Z", updated_at: "2024-01-01T00:01:00Z",
        actor: { login: "octocat", id: 1, type: "User" }, triggering_actor: { login: "octocat", id: 1, type: "User" },
        run_attempt: 1, run_started_at: "2024-01-01T00:00:00Z", previous_attempt_url: null, jobs_url: "", logs_url: "",
        head_commit: null, repository: null, head_repository: null,
      },
      job: {
        id: 1, run_id: 1, run_url: "", run_attempt: 1, node_id: "", head_sha: "3484a3fb816e0859fd6e1cea078d76385ff50625",
        head_branch: "main", url: "", html_url: "", status: "completed", conclusion: "success",
        started_at: "2024-01-01T00:00:05Z", completed_at: "2024-01-01T00:01:00Z", created_at: "2024-01-01T00:00:00Z",
        name: "build", steps: [], check_run_url: "", labels: ["ubuntu-latest"], runner_id: 1, runner_name: "GitHub Actions 1",
        runner_group_id: 2, runner_group_name: "GitHub Actions", workflow_name: "CI",
      },
      source: "built-in",
    };
  }
}

const EXAMPLES = loadExamples();
export const TEMPLATE_SOURCE = EXAMPLES.source;
let autoRunId = 9_000_000_000;
let autoJobId = 20_000_000_000;

/**
 * A workflow_run object (the webhook's `workflow_run`, which is also the REST shape) based on the
 * @octokit/webhooks-examples `completed`/`success` example, with `overrides` applied (shallow). Defaults:
 * a fresh id, name "CI", run_attempt 1, run_started_at = created_at, updated_at = created_at + 1 min when
 * only created_at is given. `repository`/URLs are filled in by addRun().
 */
export function makeRun(overrides = {}) {
  const run = structuredClone(EXAMPLES.run);
  run.id = ++autoRunId;
  run.name = "CI";
  run.run_attempt = 1;
  run.previous_attempt_url = null;
  if (overrides.created_at && !("run_started_at" in overrides)) run.run_started_at = overrides.created_at;
  if (overrides.created_at && !("updated_at" in overrides)) run.updated_at = new Date(Date.parse(overrides.created_at) + 60_000).toISOString().replace(".000Z", "Z");
  const id = overrides.id ?? run.id;
  run.id = id;
  if (!("run_number" in overrides)) run.run_number = Number(id) % 100_000;
  if (!("check_suite_id" in overrides)) run.check_suite_id = 30_000_000_000 + Number(id);
  if (!("node_id" in overrides)) run.node_id = b64url(`WFR_${id}`);
  return Object.assign(run, structuredClone(overrides));
}

/**
 * A workflow_job object based on the examples' `completed` workflow_job, with overrides (shallow). Defaults:
 * a fresh id, status completed, conclusion success. run_id / run_attempt / URLs are set by addJob(), and
 * head_sha / head_branch / workflow_name from the run unless given.
 */
export function makeJob(overrides = {}) {
  const job = structuredClone(EXAMPLES.job);
  job.id = ++autoJobId;
  job.conclusion = "success";
  job.status = "completed";
  job.steps = job.steps.map((s) => ({ ...s, conclusion: s.conclusion === "failure" ? "success" : s.conclusion }));
  delete job.head_sha; // filled from the run by addJob() unless overridden
  delete job.head_branch;
  delete job.workflow_name;
  if (!("node_id" in overrides)) job.node_id = b64url(`CR_${overrides.id ?? job.id}`);
  return Object.assign(job, structuredClone(overrides));
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
const fromB64url = (s) => Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}
const validation = (message) => new HttpError(422, "Validation Failed", { errors: [{ resource: "Search", field: "q", code: "invalid", message }] });

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** One bound of a `created` qualifier → [start, end) in ms (a whole UTC day for a date, one second for a date-time). */
function parseBound(s) {
  if (DATE_RE.test(s)) {
    const t = Date.parse(`${s}T00:00:00Z`);
    if (Number.isNaN(t)) return null;
    return [t, t + 86_400_000];
  }
  if (DATETIME_RE.test(s)) {
    const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(s) ? s : `${s}Z`;
    const t = Date.parse(withZone);
    if (Number.isNaN(t)) return null;
    return [Math.floor(t / 1000) * 1000, Math.floor(t / 1000) * 1000 + 1000];
  }
  return null;
}

/**
 * Parses GitHub's `created` search qualifier: `A..B`, `A..*`, `*..B`, `>=A`, `>A`, `<=B`, `<B`, `A`, where
 * A and B are dates (YYYY-MM-DD, whole UTC days, inclusive) or date-times (second precision, inclusive).
 * → { from, to } ms, from inclusive, to exclusive (±Infinity when open). Throws on bad syntax.
 */
export function parseCreated(q) {
  const s = String(q).trim();
  const bound = (x) => {
    const b = parseBound(x);
    if (!b) throw validation(`invalid created qualifier ${JSON.stringify(q)}`);
    return b;
  };
  let m;
  if ((m = /^(.+?)\.\.(.+)$/.exec(s))) {
    return { from: m[1] === "*" ? -Infinity : bound(m[1])[0], to: m[2] === "*" ? Infinity : bound(m[2])[1] };
  }
  if ((m = /^(>=|>|<=|<)(.+)$/.exec(s))) {
    const b = bound(m[2]);
    if (m[1] === ">=") return { from: b[0], to: Infinity };
    if (m[1] === ">") return { from: b[1], to: Infinity };
    if (m[1] === "<=") return { from: -Infinity, to: b[1] };
    return { from: -Infinity, to: b[0] };
  }
  const b = bound(s);
  return { from: b[0], to: b[1] };
}

/** Parses a Link header → { next, prev, first, last } URLs (absent rels undefined). */
export function parseLink(header) {
  const out = {};
  if (!header) return out;
  for (const part of header.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="([^"]+)"/.exec(part);
    if (m) out[m[2]] = m[1];
  }
  return out;
}

function readBody(req, cap = 1_048_576) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n <= cap) chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function etagOf(buf) {
  return `W/"${createHash("sha1").update(buf).digest("hex")}"`;
}

function etagMatches(ifNoneMatch, etag) {
  if (!ifNoneMatch) return false;
  const strip = (t) => t.trim().replace(/^W\//, "");
  const want = strip(etag);
  return ifNoneMatch.split(",").some((t) => t.trim() === "*" || strip(t) === want);
}

function intParam(v, dflt) {
  if (v == null || v === "") return dflt;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
}

// ---------------------------------------------------------------------------
// The stand-in
// ---------------------------------------------------------------------------

export class GithubStandIn extends EventEmitter {
  /**
   * opts: token ("ghp_test") or tokens ([...]) accepted as PATs; appId, appPublicKeyPem, installationId (1)
   * for GitHub App mode; perPageMax (100); rateLimit ({ limit: 5000, remaining?, resetInS: 3600 });
   * installationTokenTtlS (3600); userId (1) named in the rate-limit message.
   */
  constructor(opts = {}) {
    super();
    this.opts = opts;
    this.tokens = new Set(opts.tokens && opts.tokens.length ? opts.tokens : [opts.token ?? DEFAULT_TOKEN]);
    this.appId = opts.appId ?? null;
    this.installationId = opts.installationId ?? 1;
    this.perPageMax = opts.perPageMax ?? 100;
    this.installationTokenTtlS = opts.installationTokenTtlS ?? 3600;
    this.userId = opts.userId ?? 1;
    this._appKey = opts.appPublicKeyPem ? createPublicKey(opts.appPublicKeyPem) : null;
    this.url = null;
    this.port = null;
    this._clockOffset = 0;
    this._inFlight = 0;
    this._reqSeq = 0;
    this._resetAll();
    this._server = http.createServer((req, res) => this._onRequest(req, res));
    this._server.keepAliveTimeout = 5_000;
  }

  _resetAll() {
    this._clockOffset = 0;
    this._repos = new Map(); // lower-case full name → repo
    this._reposById = new Map();
    this._orgs = new Set(); // lower-case org logins known (from addRepo / addOrg)
    this._nextRepoId = 100_000;
    this._hooks = new Map(); // scope key → { key, kind, org?, repo?, hookId, deliveries: [] }
    this._nextDeliveryId = 10_000_000_000;
    this._installTokens = new Map(); // token → { installationId, expiresAt }
    this._redeliveryOutcome = { status: "OK", status_code: 200 };
    this._latencyMs = 0;
    this._resetLimits();
    this._resetRecords();
  }

  _resetLimits() {
    const rl = this.opts.rateLimit || {};
    this._rate = { limit: rl.limit ?? 5000, used: 0, remaining: rl.remaining ?? rl.limit ?? 5000, resetAt: null, resetInS: rl.resetInS ?? 3600 };
    this._rate.used = this._rate.limit - this._rate.remaining;
    this._secondary = []; // [{ remaining, retryAfterS, status }]
    this._failures = []; // [{ remaining, status }]
  }

  _resetRecords() {
    this._requests = [];
    this._redeliveries = [];
    this._maxInFlight = 0;
  }

  // ---- clock -----------------------------------------------------------------

  /** The stand-in's notion of now (ms): real time plus setClockOffset(). Used for x-ratelimit-reset, JWT and token expiry. */
  now() {
    return Date.now() + this._clockOffset;
  }

  setClockOffset(ms) {
    this._clockOffset = Number(ms) || 0;
    return this._clockOffset;
  }

  // ---- data ------------------------------------------------------------------

  /**
   * Adds a repository "owner/name" (idempotent). opts: id, private (false), forbidden (false: every repo
   * path answers 403 "Resource not accessible by integration"), installation (true: listed by
   * /installation/repositories), default_branch ("main"). Returns the repository object.
   */
  addRepo(fullName, opts = {}) {
    const [owner, name] = String(fullName).split("/");
    if (!owner || !name) throw new Error(`addRepo: "owner/name" expected, got ${JSON.stringify(fullName)}`);
    const key = `${owner}/${name}`.toLowerCase();
    let repo = this._repos.get(key);
    if (!repo) {
      const id = opts.id ?? ++this._nextRepoId;
      repo = { key, id, owner, name, fullName: `${owner}/${name}`, private: false, forbidden: false, installation: true, defaultBranch: "main", runs: new Map(), jobs: new Map() };
      this._repos.set(key, repo);
      this._reposById.set(String(id), repo);
      this._orgs.add(owner.toLowerCase());
    }
    if (opts.private != null) repo.private = !!opts.private;
    if (opts.forbidden != null) repo.forbidden = !!opts.forbidden;
    if (opts.installation != null) repo.installation = !!opts.installation;
    if (opts.default_branch != null) repo.defaultBranch = opts.default_branch;
    return this._repoObject(repo);
  }

  /** Marks a repository forbidden (403 "Resource not accessible by integration" on its paths) or not. */
  setRepoForbidden(fullName, forbidden = true) {
    this._repo(fullName).forbidden = !!forbidden;
  }

  /** Declares an organisation with no repositories (so /orgs/{org}/repos answers [] rather than 404). */
  addOrg(org) {
    this._orgs.add(String(org).toLowerCase());
  }

  _repo(fullName) {
    const r = this._repos.get(String(fullName).toLowerCase());
    if (!r) throw new Error(`unknown repo ${fullName} (addRepo first)`);
    return r;
  }

  _repoObject(repo) {
    const api = `${this.url || "http://127.0.0.1"}/repos/${repo.fullName}`;
    return {
      id: repo.id, node_id: b64url(`R_${repo.id}`), name: repo.name, full_name: repo.fullName, private: repo.private,
      owner: { login: repo.owner, id: 1000 + [...repo.owner].reduce((a, c) => a + c.charCodeAt(0), 0), type: "Organization" },
      html_url: `https://github.com/${repo.fullName}`, url: api, fork: false, archived: false, disabled: false,
      default_branch: repo.defaultBranch, visibility: repo.private ? "private" : "public",
    };
  }

  /**
   * Adds (or replaces) a run: any workflow_run-shaped object with at least id and created_at (makeRun()
   * gives one). run_attempt defaults to 1; adding the same id with another run_attempt stores that attempt
   * too, and the listing shows the highest attempt. url / html_url / jobs_url / logs_url / repository /
   * head_repository are set for the repo. Adds the repo if needed. Returns the stored run.
   */
  addRun(fullName, run) {
    if (!this._repos.has(String(fullName).toLowerCase())) this.addRepo(fullName);
    const repo = this._repo(fullName);
    if (!run || run.id == null || !run.created_at) throw new Error("addRun: run.id and run.created_at are required");
    const r = structuredClone(run);
    r.run_attempt = r.run_attempt ?? 1;
    const api = `${this.url}/repos/${repo.fullName}/actions/runs/${r.id}`;
    Object.assign(r, {
      url: api, jobs_url: `${api}/jobs`, logs_url: `${api}/logs`, cancel_url: `${api}/cancel`, rerun_url: `${api}/rerun`,
      artifacts_url: `${api}/artifacts`, html_url: `https://github.com/${repo.fullName}/actions/runs/${r.id}`,
      previous_attempt_url: r.run_attempt > 1 ? `${api}/attempts/${r.run_attempt - 1}` : null,
    });
    const ro = this._repoObject(repo);
    r.repository = ro;
    r.head_repository = ro;
    const key = String(r.id);
    if (!repo.runs.has(key)) repo.runs.set(key, new Map());
    repo.runs.get(key).set(Number(r.run_attempt), r);
    return structuredClone(r);
  }

  /** addRun for each run; returns how many were added. */
  addRuns(fullName, runs) {
    for (const r of runs) this.addRun(fullName, r);
    return runs.length;
  }

  /** Removes a run (all attempts and jobs); returns whether it existed. */
  removeRun(fullName, runId) {
    const repo = this._repo(fullName);
    repo.jobs.delete(String(runId));
    return repo.runs.delete(String(runId));
  }

  /**
   * Adds a job to attempt `attempt` of run `runId` (the run must exist): run_id, run_attempt, run_url, url,
   * html_url, head_branch/head_sha (when absent) are set. Returns the stored job.
   */
  addJob(fullName, runId, attempt, job) {
    const repo = this._repo(fullName);
    const attempts = repo.runs.get(String(runId));
    if (!attempts) throw new Error(`addJob: unknown run ${runId} in ${fullName}`);
    const j = structuredClone(job || makeJob());
    if (j.id == null) j.id = ++autoJobId;
    const run = attempts.get(Number(attempt)) || this._latest(attempts);
    Object.assign(j, {
      run_id: Number(runId), run_attempt: Number(attempt),
      run_url: `${this.url}/repos/${repo.fullName}/actions/runs/${runId}`,
      url: `${this.url}/repos/${repo.fullName}/actions/jobs/${j.id}`,
      html_url: `https://github.com/${repo.fullName}/actions/runs/${runId}/job/${j.id}`,
    });
    if (j.head_sha == null) j.head_sha = run.head_sha;
    if (j.head_branch === undefined) j.head_branch = run.head_branch;
    if (j.workflow_name === undefined) j.workflow_name = run.name;
    const key = String(runId);
    if (!repo.jobs.has(key)) repo.jobs.set(key, []);
    const list = repo.jobs.get(key);
    const i = list.findIndex((x) => String(x.id) === String(j.id));
    if (i >= 0) list[i] = j;
    else list.push(j);
    return structuredClone(j);
  }

  _latest(attempts) {
    let best = null;
    for (const [n, r] of attempts) if (!best || n > best[0]) best = [n, r];
    return best && best[1];
  }

  /** All stored runs of a repo (latest attempt of each), created_at desc. */
  runs(fullName) {
    return structuredClone(this._sortedRuns(this._repo(fullName)));
  }

  _sortedRuns(repo) {
    const list = [...repo.runs.values()].map((a) => this._latest(a));
    return list.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || Number(b.id) - Number(a.id));
  }

  // ---- hooks and deliveries ------------------------------------------------------

  _hookKey({ org, repo, hookId, app }) {
    if (app || (!org && !repo)) return "app";
    if (repo) return `repo:${String(repo).toLowerCase()}:${hookId}`;
    return `org:${String(org).toLowerCase()}:${hookId}`;
  }

  /** Declares a hook with no deliveries: { org, hookId } | { repo, hookId } | { app: true }. */
  addHook(h) {
    const key = this._hookKey(h);
    if (!this._hooks.has(key)) this._hooks.set(key, { key, org: h.org ?? null, repo: h.repo ?? null, hookId: h.hookId ?? null, deliveries: [] });
    return this._hooks.get(key);
  }

  /**
   * Adds one delivery attempt. d: { hookId, org } (org hook) | { hookId, repo } (repo hook) | { app: true }
   * (the app's hook); guid (random), event ("workflow_run"), action ("completed"), status ("OK" or text such
   * as "failed to connect"), status_code (200 for OK, else 0 / 5xx / ...), delivered_at (ISO, default now),
   * redelivery (false), duration (0.1), installation_id, repository_id, id (auto, increasing).
   * Several attempts may share a guid. Returns the stored delivery.
   */
  addDelivery(d = {}) {
    const hook = this.addHook(d);
    const status = d.status ?? "OK";
    const del = {
      id: d.id ?? ++this._nextDeliveryId,
      guid: d.guid ?? randomGuid(),
      delivered_at: d.delivered_at ?? isoSeconds(this.now()),
      redelivery: !!d.redelivery,
      duration: d.duration ?? 0.1,
      status,
      status_code: d.status_code ?? (status === "OK" ? 200 : 0),
      event: d.event ?? "workflow_run",
      action: d.action ?? "completed",
      installation_id: d.installation_id ?? null,
      repository_id: d.repository_id ?? null,
      throttled_at: d.throttled_at ?? null,
    };
    if (del.id > this._nextDeliveryId) this._nextDeliveryId = del.id;
    hook.deliveries.push(del);
    return { ...del };
  }

  /** Deliveries of a hook (same selector as addHook), newest first. */
  deliveries(h = { app: true }) {
    const hook = this._hooks.get(this._hookKey(h));
    return hook ? structuredClone(this._sortedDeliveries(hook)) : [];
  }

  _sortedDeliveries(hook) {
    return [...hook.deliveries].sort((a, b) => Date.parse(b.delivered_at) - Date.parse(a.delivered_at) || b.id - a.id);
  }

  /** What the attempt added by a redelivery POST looks like: { status ("OK"), status_code (200) }; null: add none. */
  setRedeliveryOutcome(o) {
    this._redeliveryOutcome = o == null ? null : { status: o.status ?? "OK", status_code: o.status_code ?? (o.status === "OK" || o.status == null ? 200 : 0) };
    return this._redeliveryOutcome;
  }

  /** Redelivery POSTs answered 202: [{ at, hook ("app" | "org:o:id" | "repo:o/r:id"), org, repo, hookId, deliveryId, guid }]. */
  redeliveries() {
    return structuredClone(this._redeliveries);
  }

  /**
   * Loads a fixtures object: { repos: ["o/r" | { name, ...addRepo opts }], runs: { "o/r": [run] },
   * jobs: { "o/r": [{ runId, attempt, job }] }, deliveries: [delivery] }.
   */
  loadFixtures(f = {}) {
    for (const r of f.repos || []) typeof r === "string" ? this.addRepo(r) : this.addRepo(r.name, r);
    for (const [repo, runs] of Object.entries(f.runs || {})) for (const r of runs) this.addRun(repo, makeRun(r));
    for (const [repo, jobs] of Object.entries(f.jobs || {})) for (const j of jobs) this.addJob(repo, j.runId, j.attempt ?? 1, makeJob(j.job || {}));
    for (const d of f.deliveries || []) this.addDelivery(d);
    return { repos: this._repos.size };
  }

  // ---- limits and faults -----------------------------------------------------------

  /**
   * Sets the primary ("core") bucket: { limit, remaining (default limit), used (default limit − remaining),
   * resetInS (seconds from the stand-in's now to x-ratelimit-reset; default 3600) }. When the stand-in's
   * clock passes reset the bucket refills to limit and a new hour starts at the next request.
   */
  setRateLimit({ limit, remaining, used, resetInS } = {}) {
    if (limit != null) this._rate.limit = Number(limit);
    this._rate.remaining = remaining != null ? Number(remaining) : this._rate.limit;
    this._rate.used = used != null ? Number(used) : this._rate.limit - this._rate.remaining;
    this._rate.resetAt = this.now() + 1000 * (resetInS ?? this._rate.resetInS);
    return this.rateLimit();
  }

  /** The bucket as the headers would show it now: { limit, remaining, used, reset (epoch s), resource }. */
  rateLimit() {
    this._refreshWindow();
    return { limit: this._rate.limit, remaining: this._rate.remaining, used: this._rate.used, reset: Math.ceil(this._rate.resetAt / 1000), resource: "core" };
  }

  _refreshWindow() {
    const now = this.now();
    if (this._rate.resetAt == null || now >= this._rate.resetAt) {
      this._rate.remaining = this._rate.resetAt == null ? this._rate.remaining : this._rate.limit;
      this._rate.used = this._rate.limit - this._rate.remaining;
      this._rate.resetAt = now + this._rate.resetInS * 1000;
    }
  }

  /**
   * The next n authenticated, routed API requests get a secondary-limit answer: status (403, or 429) with
   * `retry-after: retryAfterS` (null/undefined → no retry-after header, as GitHub sometimes does; default 60).
   * Not counted against the primary limit.
   */
  secondaryLimit(n = 1, retryAfterS = 60, { status = 403 } = {}) {
    if (Number(n) > 0) this._secondary.push({ remaining: Number(n), retryAfterS, status });
    return this._secondary.reduce((a, s) => a + s.remaining, 0);
  }

  /** The next n API requests (after the User-Agent check) fail with status (502) and {"message":"Server Error"}. */
  fail(n = 1, { status = 502 } = {}) {
    if (Number(n) > 0) this._failures.push({ remaining: Number(n), status });
    return this._failures.reduce((a, s) => a + s.remaining, 0);
  }

  /** Every API answer is delayed by ms (to observe concurrency: counts().maxInFlight). */
  setLatency(ms) {
    this._latencyMs = Number(ms) || 0;
    return this._latencyMs;
  }

  /** Limits and injected faults back to the configured ones (data and records stay). */
  clearFaults() {
    this._resetLimits();
  }

  // ---- records -----------------------------------------------------------------

  /**
   * Every request to the API (not /_control) in arrival order: { seq, at (ISO, stand-in clock), method, path,
   * query (object), headers { accept, x-github-api-version, user-agent, if-none-match, authorization
   * ("Bearer <kind>" — the secret is not kept) }, auth ("pat" | "installation" | "jwt" | null), route,
   * repo, status, counted (against the primary limit), from304, limited ("primary" | "secondary" | null),
   * remaining (x-ratelimit-remaining sent) }.
   */
  requests() {
    return structuredClone(this._requests);
  }

  /**
   * { requests, counted, notCounted, notModified (304), byStatus, byRoute, primaryLimited, secondaryLimited,
   * unauthorized, redeliveries, maxInFlight, rateLimit }.
   */
  counts() {
    const c = { requests: this._requests.length, counted: 0, notCounted: 0, notModified: 0, byStatus: {}, byRoute: {}, primaryLimited: 0, secondaryLimited: 0, unauthorized: 0, redeliveries: this._redeliveries.length, maxInFlight: this._maxInFlight, rateLimit: this.rateLimit() };
    for (const r of this._requests) {
      if (r.counted) c.counted++;
      else c.notCounted++;
      if (r.from304) c.notModified++;
      if (r.limited === "primary") c.primaryLimited++;
      if (r.limited === "secondary") c.secondaryLimited++;
      if (r.status === 401) c.unauthorized++;
      c.byStatus[r.status] = (c.byStatus[r.status] || 0) + 1;
      const rt = r.route || "(none)";
      c.byRoute[rt] = (c.byRoute[rt] || 0) + 1;
    }
    return c;
  }

  /** Forgets recorded requests and redeliveries (data, limits and tokens stay). */
  clear() {
    this._resetRecords();
  }

  /** Everything back to the start: data, hooks, records, limits, faults, minted tokens, clock offset. */
  reset() {
    this._resetAll();
  }

  /** Polls predicate(this) until truthy (returned) or timeoutMs (throws). */
  async waitFor(predicate, { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = {}) {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = await predicate(this);
      if (v) return v;
      if (performance.now() > end) throw new Error(`github stand-in: timed out after ${timeoutMs} ms waiting for ${what}; counts: ${JSON.stringify(this.counts())}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  // ---- lifecycle -----------------------------------------------------------------

  async listen(port = 0, host = "127.0.0.1") {
    await new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(port, host, () => resolve());
    });
    this.port = this._server.address().port;
    this.url = `http://${host}:${this.port}`;
    return this;
  }

  async close() {
    await new Promise((resolve) => {
      this._server.close(() => resolve());
      this._server.closeAllConnections();
    });
  }

  // ---- HTTP ------------------------------------------------------------------

  _onRequest(req, res) {
    const p = req.url.split("?")[0];
    const handle = p.startsWith("/_control/") ? this._control(req, res) : this._api(req, res);
    handle.catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: `stand-in error: ${err.message}` }));
      }
    });
  }

  _rateHeaders() {
    const r = this.rateLimit();
    return {
      "x-ratelimit-limit": String(r.limit), "x-ratelimit-remaining": String(r.remaining), "x-ratelimit-used": String(r.used),
      "x-ratelimit-reset": String(r.reset), "x-ratelimit-resource": "core",
    };
  }

  _auth(req) {
    const h = req.headers.authorization;
    if (!h) return { kind: null };
    const m = /^(bearer|token)\s+(\S+)\s*$/i.exec(h);
    if (!m) return { kind: "bad" };
    const tok = m[2];
    if (this.tokens.has(tok)) return { kind: "pat", scheme: m[1] };
    const it = this._installTokens.get(tok);
    if (it) return it.expiresAt > this.now() ? { kind: "installation", scheme: m[1], installationId: it.installationId } : { kind: "bad" };
    if (m[1].toLowerCase() === "bearer" && tok.split(".").length === 3) return { kind: "jwt", scheme: m[1], jwt: tok };
    return { kind: "bad" };
  }

  /** Verifies an app JWT → null when valid, else the error message GitHub would give. */
  _checkJwt(jwt) {
    if (!this._appKey || this.appId == null) return MSG.jwtDecode;
    const [h, p, s] = jwt.split(".");
    let header, claims;
    try {
      header = JSON.parse(fromB64url(h).toString("utf8"));
      claims = JSON.parse(fromB64url(p).toString("utf8"));
    } catch {
      return MSG.jwtDecode;
    }
    if (header.alg !== "RS256") return MSG.jwtDecode;
    let ok = false;
    try {
      ok = cryptoVerify("RSA-SHA256", Buffer.from(`${h}.${p}`), this._appKey, fromB64url(s));
    } catch {
      ok = false;
    }
    if (!ok) return MSG.jwtDecode;
    const nowS = Math.floor(this.now() / 1000);
    if (!Number.isInteger(claims.iat)) return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
    if (!Number.isInteger(claims.exp)) return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
    if (claims.iat > nowS + 60) return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
    if (claims.exp - claims.iat > 600) return "'Expiration time' claim ('exp') is too far in the future.";
    if (claims.exp <= nowS) return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
    if (String(claims.iss) !== String(this.appId)) return `Integration not found. 'iss' claim ('${claims.iss}') does not match an app.`;
    return null;
  }

  _route(method, p) {
    let m;
    // /repositories/{id}/... → /repos/{owner}/{name}/...
    if ((m = /^\/repositories\/(\d+)(\/.*)?$/.exec(p))) {
      const repo = this._reposById.get(m[1]);
      p = repo ? `/repos/${repo.fullName}${m[2] || ""}` : `/repos/-/-${m[2] || ""}`;
    }
    const table = [
      ["GET", /^\/rate_limit$/, "rate_limit"],
      ["GET", /^\/app$/, "app"],
      ["POST", /^\/app\/installations\/(\d+)\/access_tokens$/, "app.access_tokens"],
      ["GET", /^\/app\/hook\/deliveries$/, "app.deliveries"],
      ["GET", /^\/app\/hook\/deliveries\/(\d+)$/, "app.delivery"],
      ["POST", /^\/app\/hook\/deliveries\/(\d+)\/attempts$/, "app.redeliver"],
      ["GET", /^\/installation\/repositories$/, "installation.repos"],
      ["GET", /^\/orgs\/([^/]+)\/repos$/, "org.repos"],
      ["GET", /^\/orgs\/([^/]+)\/hooks\/(\d+)\/deliveries$/, "org.deliveries"],
      ["GET", /^\/orgs\/([^/]+)\/hooks\/(\d+)\/deliveries\/(\d+)$/, "org.delivery"],
      ["POST", /^\/orgs\/([^/]+)\/hooks\/(\d+)\/deliveries\/(\d+)\/attempts$/, "org.redeliver"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)$/, "repo"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs$/, "runs"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)$/, "run"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/attempts\/(\d+)$/, "run.attempt"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/jobs$/, "jobs"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/attempts\/(\d+)\/jobs$/, "attempt.jobs"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/hooks\/(\d+)\/deliveries$/, "repo.deliveries"],
      ["GET", /^\/repos\/([^/]+)\/([^/]+)\/hooks\/(\d+)\/deliveries\/(\d+)$/, "repo.delivery"],
      ["POST", /^\/repos\/([^/]+)\/([^/]+)\/hooks\/(\d+)\/deliveries\/(\d+)\/attempts$/, "repo.redeliver"],
    ];
    for (const [meth, re, name] of table) {
      const mm = re.exec(p);
      if (mm && meth === method) return { name, params: mm.slice(1).map(decodeURIComponent) };
    }
    return null;
  }

  async _api(req, res) {
    const body = await readBody(req);
    const u = new URL(req.url, "http://x");
    const auth = this._auth(req);
    const rec = {
      seq: ++this._reqSeq, at: isoSeconds(this.now()), method: req.method, path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: {
        accept: req.headers.accept ?? null, "x-github-api-version": req.headers["x-github-api-version"] ?? null,
        "user-agent": req.headers["user-agent"] ?? null, "if-none-match": req.headers["if-none-match"] ?? null,
        authorization: req.headers.authorization ? `${(req.headers.authorization.split(/\s+/)[0] || "")} <${auth.kind}>` : null,
      },
      auth: ["pat", "installation", "jwt"].includes(auth.kind) ? auth.kind : null,
      route: null, repo: null, status: null, counted: false, from304: false, limited: null, remaining: null,
    };
    this._requests.push(rec);
    this._inFlight++;
    this._maxInFlight = Math.max(this._maxInFlight, this._inFlight);
    try {
      if (this._latencyMs > 0) await new Promise((r) => setTimeout(r, this._latencyMs));
      this._respond(req, res, u, auth, body, rec);
    } finally {
      this._inFlight--;
      this.emit("request", structuredClone(rec));
    }
  }

  _respond(req, res, u, auth, body, rec) {
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    const send = (status, obj, extra = {}, { rate = true } = {}) => {
      const headers = { "x-github-request-id": requestId, ...(rate ? this._rateHeaders() : {}), ...extra };
      rec.status = status;
      rec.remaining = rate ? Number(headers["x-ratelimit-remaining"]) : null;
      if (status === 304) {
        res.writeHead(304, headers);
        return res.end();
      }
      const buf = typeof obj === "string" ? Buffer.from(obj) : Buffer.from(JSON.stringify(obj));
      headers["content-type"] ||= typeof obj === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
      headers["content-length"] = buf.length;
      res.writeHead(status, headers);
      res.end(buf);
    };
    const error = (status, message, extra = {}, headers = {}) => send(status, { message, ...extra, documentation_url: DOCS, status: String(status) }, headers);

    if (!req.headers["user-agent"]) return send(403, MSG.noUserAgent, {}, { rate: false });
    const failure = this._failures.find((f) => f.remaining > 0);
    if (failure) {
      failure.remaining--;
      return send(failure.status, { message: "Server Error" });
    }
    const accept = req.headers.accept || "";
    if (!accept.split(",").some((t) => t.split(";")[0].trim().toLowerCase() === MEDIA_TYPE)) {
      return error(415, `Unsupported 'Accept' header: ${JSON.stringify(accept)}. Expected ${MEDIA_TYPE}.`);
    }
    const ver = req.headers["x-github-api-version"];
    if (ver !== API_VERSION) return error(400, `Unsupported 'X-GitHub-Api-Version' header: ${JSON.stringify(ver ?? "")}. Supported versions: ${API_VERSION}.`);
    if (auth.kind === null) return error(401, MSG.requiresAuth);
    if (auth.kind === "bad") return error(401, MSG.badCredentials);

    const route = this._route(req.method, u.pathname);
    rec.route = route ? route.name : null;
    // Authorization per route family.
    const appRoute = route && (route.name === "app" || route.name.startsWith("app."));
    if (appRoute) {
      if (auth.kind !== "jwt") return error(401, MSG.jwtDecode);
      const bad = this._checkJwt(auth.jwt);
      if (bad) return error(401, bad);
    } else if (auth.kind === "jwt") {
      return error(401, MSG.badCredentials);
    }

    if (route && route.name === "rate_limit") {
      this._refreshWindow();
      const r = this.rateLimit();
      return send(200, { resources: { core: r }, rate: r });
    }

    const secondary = route && this._secondary.find((s) => s.remaining > 0);
    if (secondary) {
      secondary.remaining--;
      rec.limited = "secondary";
      const h = secondary.retryAfterS == null ? {} : { "retry-after": String(secondary.retryAfterS) };
      return error(secondary.status, `${MSG.secondary} ${requestId}.`, {}, h);
    }
    this._refreshWindow();
    if (this._rate.remaining <= 0) {
      rec.limited = "primary";
      const who = auth.kind === "installation" ? `installation ID ${auth.installationId}` : `user ID ${this.userId}`;
      return error(this.opts.rateLimitStatus ?? 403, `API rate limit exceeded for ${who}. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`);
    }
    const count = () => {
      this._rate.remaining--;
      this._rate.used++;
      rec.counted = true;
    };

    let result;
    try {
      if (!route) throw new HttpError(404, MSG.notFound);
      result = this._handle(route, u, auth, body, rec, req);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      count();
      return error(e.status, e.message, e.extra);
    }
    const buf = Buffer.from(JSON.stringify(result.body));
    const headers = { ...(result.headers || {}) };
    if (req.method === "GET" && result.status === 200) {
      const etag = etagOf(buf);
      headers.etag = etag;
      headers["cache-control"] = "private, max-age=60, s-maxage=60";
      headers.vary = "Accept, Authorization, Cookie, X-GitHub-OTP";
      if (etagMatches(req.headers["if-none-match"], etag)) {
        rec.from304 = true;
        return send(304, null, headers);
      }
    }
    count();
    return send(result.status, result.body, headers);
  }

  _paginate(u, req, items, { reachable = items.length } = {}) {
    let perPage = intParam(u.searchParams.get("per_page"), DEFAULT_PER_PAGE);
    if (perPage < 1) perPage = DEFAULT_PER_PAGE;
    perPage = Math.min(perPage, this.perPageMax);
    let page = intParam(u.searchParams.get("page"), 1);
    if (page < 1) page = 1;
    const usable = Math.min(items.length, reachable);
    const start = (page - 1) * perPage;
    const slice = start < usable ? items.slice(start, Math.min(start + perPage, usable)) : [];
    const last = Math.max(1, Math.ceil(usable / perPage));
    const base = `http://${req.headers.host || `127.0.0.1:${this.port}`}${u.pathname}`;
    const link = (n) => {
      const q = new URLSearchParams(u.searchParams);
      q.set("page", String(n));
      return `<${base}?${q.toString()}>`;
    };
    const parts = [];
    if (page > 1) parts.push(`${link(page - 1)}; rel="prev"`);
    if (page < last) parts.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
    if (page > 1) parts.push(`${link(1)}; rel="first"`);
    return { slice, headers: parts.length ? { link: parts.join(", ") } : {} };
  }

  _repoFor(owner, name, rec) {
    const repo = this._repos.get(`${owner}/${name}`.toLowerCase());
    if (!repo) throw new HttpError(404, MSG.notFound);
    rec.repo = repo.fullName;
    if (repo.forbidden) throw new HttpError(403, MSG.forbiddenIntegration);
    return repo;
  }

  _handle(route, u, auth, body, rec, req) {
    const q = u.searchParams;
    const [a, b, c, d] = route.params;
    switch (route.name) {
      case "app":
        return { status: 200, body: { id: Number(this.appId), slug: "gha-metrics-test", name: "gha-metrics test app", owner: { login: "octo-org", type: "Organization" } } };
      case "app.access_tokens": {
        if (String(a) !== String(this.installationId)) throw new HttpError(404, MSG.notFound);
        const token = `ghs_${randomBytes(18).toString("base64url").replace(/[-_]/g, "x")}`;
        const expiresAt = this.now() + this.installationTokenTtlS * 1000;
        this._installTokens.set(token, { installationId: Number(a), expiresAt });
        return { status: 201, body: { token, expires_at: isoSeconds(expiresAt), permissions: { actions: "read", metadata: "read", organization_hooks: "write" }, repository_selection: "selected" } };
      }
      case "installation.repos": {
        if (auth.kind !== "installation") throw new HttpError(403, "You must authenticate with an installation access token in order to list repositories for an installation.");
        const all = [...this._repos.values()].filter((r) => r.installation).map((r) => this._repoObject(r));
        const { slice, headers } = this._paginate(u, req, all);
        return { status: 200, body: { total_count: all.length, repository_selection: "selected", repositories: slice }, headers };
      }
      case "org.repos": {
        if (!this._orgs.has(a.toLowerCase())) throw new HttpError(404, MSG.notFound);
        const all = [...this._repos.values()].filter((r) => r.owner.toLowerCase() === a.toLowerCase()).map((r) => this._repoObject(r));
        const { slice, headers } = this._paginate(u, req, all);
        return { status: 200, body: slice, headers };
      }
      case "repo":
        return { status: 200, body: this._repoObject(this._repoFor(a, b, rec)) };
      case "runs":
        return this._listRuns(this._repoFor(a, b, rec), u, req);
      case "run":
      case "run.attempt": {
        const repo = this._repoFor(a, b, rec);
        const attempts = repo.runs.get(String(c));
        if (!attempts) throw new HttpError(404, MSG.notFound);
        const run = route.name === "run" ? this._latest(attempts) : attempts.get(Number(d));
        if (!run) throw new HttpError(404, MSG.notFound);
        return { status: 200, body: this._runOut(run, q) };
      }
      case "jobs":
      case "attempt.jobs": {
        const repo = this._repoFor(a, b, rec);
        const attempts = repo.runs.get(String(c));
        if (!attempts) throw new HttpError(404, MSG.notFound);
        const latest = Math.max(...attempts.keys());
        const jobs = [...(repo.jobs.get(String(c)) || [])].sort((x, y) => Number(x.id) - Number(y.id));
        let list;
        if (route.name === "attempt.jobs") {
          const n = Number(d);
          if (n < 1 || n > latest) throw new HttpError(404, MSG.notFound);
          list = jobs.filter((j) => Number(j.run_attempt) === n);
        } else {
          const filter = q.get("filter") || "latest";
          if (filter !== "latest" && filter !== "all") throw new HttpError(422, `Invalid filter ${JSON.stringify(filter)}: latest or all`);
          const latestJob = jobs.reduce((m, j) => Math.max(m, Number(j.run_attempt)), latest);
          list = filter === "all" ? jobs : jobs.filter((j) => Number(j.run_attempt) === latestJob);
        }
        const { slice, headers } = this._paginate(u, req, list);
        return { status: 200, body: { total_count: list.length, jobs: slice }, headers };
      }
      case "app.deliveries":
        return this._listDeliveries(this._hooks.get("app"), u, req);
      case "org.deliveries":
        return this._listDeliveries(this._hooks.get(this._hookKey({ org: a, hookId: b })), u, req);
      case "repo.deliveries":
        this._repoFor(a, b, rec);
        return this._listDeliveries(this._hooks.get(this._hookKey({ repo: `${a}/${b}`, hookId: c })), u, req);
      case "app.delivery":
      case "org.delivery":
      case "repo.delivery": {
        const [hook, id] = this._hookAndId(route, a, b, c, d, rec);
        const del = hook.deliveries.find((x) => String(x.id) === String(id));
        if (!del) throw new HttpError(404, MSG.notFound);
        return { status: 200, body: { ...del, url: `https://example.test/hook`, request: { headers: { "X-GitHub-Delivery": del.guid, "X-GitHub-Event": del.event }, payload: null }, response: { headers: {}, payload: null } } };
      }
      case "app.redeliver":
      case "org.redeliver":
      case "repo.redeliver": {
        const [hook, id] = this._hookAndId(route, a, b, c, d, rec);
        const del = hook.deliveries.find((x) => String(x.id) === String(id));
        if (!del) throw new HttpError(404, MSG.notFound);
        this._redeliveries.push({ at: isoSeconds(this.now()), hook: hook.key, org: hook.org, repo: hook.repo, hookId: hook.hookId, deliveryId: del.id, guid: del.guid });
        if (this._redeliveryOutcome) {
          this.addDelivery({
            app: hook.key === "app", org: hook.org, repo: hook.repo, hookId: hook.hookId, guid: del.guid, event: del.event, action: del.action,
            installation_id: del.installation_id, repository_id: del.repository_id, redelivery: true, ...this._redeliveryOutcome,
          });
        }
        return { status: 202, body: {} };
      }
      default:
        throw new HttpError(404, MSG.notFound);
    }
  }

  _hookAndId(route, a, b, c, d, rec) {
    let key, id;
    if (route.name.startsWith("app.")) [key, id] = ["app", a];
    else if (route.name.startsWith("org.")) [key, id] = [this._hookKey({ org: a, hookId: b }), c];
    else {
      this._repoFor(a, b, rec);
      [key, id] = [this._hookKey({ repo: `${a}/${b}`, hookId: c }), d];
    }
    const hook = this._hooks.get(key);
    if (!hook) throw new HttpError(404, MSG.notFound);
    return [hook, id];
  }

  _runOut(run, q) {
    if (q.get("exclude_pull_requests") === "true") return { ...run, pull_requests: [] };
    return run;
  }

  _listRuns(repo, u, req) {
    const q = u.searchParams;
    let list = this._sortedRuns(repo);
    const created = q.get("created");
    if (created) {
      const { from, to } = parseCreated(created);
      list = list.filter((r) => {
        const t = Date.parse(r.created_at);
        return t >= from && t < to;
      });
    }
    const status = q.get("status");
    if (status) {
      if (RUN_STATUSES.includes(status)) list = list.filter((r) => r.status === status);
      else if (RUN_CONCLUSIONS.includes(status)) list = list.filter((r) => r.conclusion === status);
      else throw new HttpError(422, "Validation Failed", { errors: [{ resource: "WorkflowRun", field: "status", code: "invalid" }] });
    }
    const eq = (param, get) => {
      const v = q.get(param);
      if (v) list = list.filter((r) => String(get(r)) === v);
    };
    eq("branch", (r) => r.head_branch);
    eq("event", (r) => r.event);
    eq("actor", (r) => r.actor && r.actor.login);
    eq("head_sha", (r) => r.head_sha);
    eq("check_suite_id", (r) => r.check_suite_id);
    const capped = CAPPED_RUN_FILTERS.some((p) => q.get(p));
    const { slice, headers } = this._paginate(u, req, list, { reachable: capped ? RESULT_CAP : Infinity });
    return { status: 200, body: { total_count: list.length, workflow_runs: slice.map((r) => this._runOut(r, q)) }, headers };
  }

  _listDeliveries(hook, u, req) {
    if (!hook) throw new HttpError(404, MSG.notFound);
    const list = this._sortedDeliveries(hook);
    let perPage = intParam(u.searchParams.get("per_page"), DEFAULT_PER_PAGE);
    if (perPage < 1) perPage = DEFAULT_PER_PAGE;
    perPage = Math.min(perPage, this.perPageMax);
    const cursor = u.searchParams.get("cursor");
    let start = 0;
    if (cursor) {
      const m = /^v1_(\d+)$/.exec(cursor);
      const i = m ? list.findIndex((x) => String(x.id) === m[1]) : -1;
      if (i < 0) throw new HttpError(422, "Invalid cursor", { errors: [{ field: "cursor", code: "invalid" }] });
      start = i + 1;
    }
    const slice = list.slice(start, start + perPage);
    const headers = {};
    if (start + perPage < list.length) {
      const qs = new URLSearchParams(u.searchParams);
      qs.set("cursor", `v1_${slice[slice.length - 1].id}`);
      qs.set("per_page", String(perPage));
      headers.link = `<http://${req.headers.host || `127.0.0.1:${this.port}`}${u.pathname}?${qs.toString()}>; rel="next"`;
    }
    return { status: 200, body: slice, headers };
  }

  // ---- control over HTTP -----------------------------------------------------

  async _control(req, res) {
    const buf = await readBody(req, 64 * 1_048_576);
    const u = new URL(req.url, "http://x");
    const name = u.pathname.slice("/_control/".length);
    const args = {};
    for (const [k, v] of u.searchParams) args[k] = v === "" ? true : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v === "true" ? true : v === "false" ? false : v;
    const reply = (status, obj) => {
      const b = Buffer.from(JSON.stringify(obj));
      res.writeHead(status, { "content-type": "application/json", "content-length": b.length });
      res.end(b);
    };
    if (buf.length) {
      try {
        Object.assign(args, JSON.parse(buf.toString("utf8")));
      } catch (e) {
        return reply(400, { error: `bad JSON: ${e.message}` });
      }
    }
    const routes = {
      "requests": () => this.requests(),
      "counts": () => this.counts(),
      "redeliveries": () => this.redeliveries(),
      "clear": () => (this.clear(), {}),
      "reset": () => (this.reset(), {}),
      "clear-faults": () => (this.clearFaults(), {}),
      "add-repo": () => this.addRepo(args.name, args),
      "add-org": () => (this.addOrg(args.org), {}),
      "forbid-repo": () => (this.setRepoForbidden(args.name, args.forbidden ?? true), {}),
      "add-run": () => this.addRun(args.repo, args.raw ? args.run : makeRun(args.run || {})),
      "add-runs": () => ({ added: this.addRuns(args.repo, (args.runs || []).map((r) => (args.raw ? r : makeRun(r)))) }),
      "remove-run": () => ({ removed: this.removeRun(args.repo, args.runId) }),
      "add-job": () => this.addJob(args.repo, args.runId, args.attempt ?? 1, args.raw ? args.job : makeJob(args.job || {})),
      "runs": () => this.runs(args.repo),
      "add-hook": () => (this.addHook(args), {}),
      "add-delivery": () => this.addDelivery(args),
      "deliveries": () => this.deliveries(args),
      "redelivery-outcome": () => this.setRedeliveryOutcome(args.disable ? null : args),
      "load-fixtures": () => this.loadFixtures(args),
      "rate-limit": () => (Object.keys(args).length ? this.setRateLimit(args) : this.rateLimit()),
      "secondary-limit": () => ({ pending: this.secondaryLimit(args.n ?? 1, "retryAfterS" in args ? args.retryAfterS : 60, { status: args.status ?? 403 }) }),
      "fail": () => ({ pending: this.fail(args.n ?? 1, { status: args.status ?? 502 }) }),
      "latency": () => ({ latencyMs: this.setLatency(args.ms) }),
      "clock": () => ({ offsetMs: args.offsetMs === undefined ? this._clockOffset : this.setClockOffset(args.offsetMs), now: this.now() }),
    };
    const fn = routes[name];
    if (!fn) return reply(404, { error: `unknown control ${name}`, controls: Object.keys(routes) });
    try {
      const out = fn();
      reply(200, out === undefined ? {} : out);
    } catch (e) {
      reply(400, { error: e.message });
    }
  }
}

function randomGuid() {
  const h = randomBytes(16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Starts the stand-in. Options: token ("ghp_test") / tokens, appId, appPublicKeyPem, installationId (1),
 * perPageMax (100), rateLimit ({ limit: 5000, remaining?, resetInS: 3600 }), rateLimitStatus (403; or 429),
 * installationTokenTtlS (3600), port (0), host ("127.0.0.1"). Resolves to the GithubStandIn.
 */
export async function startGithub(opts = {}) {
  const gh = new GithubStandIn(opts);
  return gh.listen(opts.port ?? 0, opts.host ?? "127.0.0.1");
}

/**
 * Drives a stand-in running in another process (e.g. the CLI) over /_control: the same method names as
 * GithubStandIn, each returning a promise. Runs and jobs given to addRun/addRuns/addJob are passed through
 * makeRun/makeJob on the server side (so overrides suffice).
 */
export function connectGithub(url) {
  const base = url.replace(/\/$/, "");
  const call = async (name, body) => {
    const r = await fetch(`${base}/_control/${name}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) throw new Error(`github stand-in control ${name}: ${j.error || r.status}`);
    return j;
  };
  return {
    url: base,
    requests: () => call("requests"),
    counts: () => call("counts"),
    redeliveries: () => call("redeliveries"),
    clear: () => call("clear", {}),
    reset: () => call("reset", {}),
    clearFaults: () => call("clear-faults", {}),
    addRepo: (name, opts = {}) => call("add-repo", { ...opts, name }),
    addOrg: (org) => call("add-org", { org }),
    setRepoForbidden: (name, forbidden = true) => call("forbid-repo", { name, forbidden }),
    addRun: (repo, run) => call("add-run", { repo, run }),
    addRuns: (repo, runs) => call("add-runs", { repo, runs }).then((r) => r.added),
    removeRun: (repo, runId) => call("remove-run", { repo, runId }).then((r) => r.removed),
    addJob: (repo, runId, attempt, job) => call("add-job", { repo, runId, attempt, job }),
    runs: (repo) => call("runs", { repo }),
    addHook: (h) => call("add-hook", h),
    addDelivery: (d) => call("add-delivery", d),
    deliveries: (h = { app: true }) => call("deliveries", h),
    setRedeliveryOutcome: (o) => call("redelivery-outcome", o == null ? { disable: true } : o),
    loadFixtures: (f) => call("load-fixtures", f),
    rateLimit: () => call("rate-limit"),
    setRateLimit: (o) => call("rate-limit", o),
    secondaryLimit: (n = 1, retryAfterS = 60, { status = 403 } = {}) => call("secondary-limit", { n, retryAfterS, status }).then((r) => r.pending),
    fail: (n = 1, { status = 502 } = {}) => call("fail", { n, status }).then((r) => r.pending),
    setLatency: (ms) => call("latency", { ms }).then((r) => r.latencyMs),
    setClockOffset: (offsetMs) => call("clock", { offsetMs }).then((r) => r.offsetMs),
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

async function main(argv) {
  const opts = { tokens: [] };
  let fixtures = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") opts.port = Number(next());
    else if (a === "--host") opts.host = next();
    else if (a === "--token") opts.tokens.push(next());
    else if (a === "--app-id") opts.appId = next();
    else if (a === "--app-public-key") opts.appPublicKeyPem = fs.readFileSync(next(), "utf8");
    else if (a === "--installation-id") opts.installationId = Number(next());
    else if (a === "--per-page-max") opts.perPageMax = Number(next());
    else if (a === "--rate-limit") opts.rateLimit = { limit: Number(next()) };
    else if (a === "--fixtures") fixtures = JSON.parse(fs.readFileSync(next(), "utf8"));
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node tests/servers/github.mjs [--port N] [--host H] [--token T]... [--app-id ID --app-public-key PEM_FILE [--installation-id N]] [--per-page-max N] [--rate-limit N] [--fixtures FILE.json]\n");
      return;
    } else throw new Error(`unknown argument ${a}`);
  }
  const gh = await startGithub(opts);
  if (fixtures) gh.loadFixtures(fixtures);
  process.stdout.write(JSON.stringify({ url: gh.url, port: gh.port, tokens: [...gh.tokens], appId: gh.appId, installationId: gh.installationId }) + "\n");
  const stop = () => gh.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`github stand-in: ${e.message}\n`);
    process.exit(2);
  });
}
