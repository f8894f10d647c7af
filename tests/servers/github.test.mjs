// Tests of the GitHub API stand-in itself (tests/servers/github.mjs):
//   node --test tests/servers/github.test.mjs
// Requests go through node:http (not fetch, which always adds a User-Agent) so every header is under the
// test's control.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { connectGithub, makeJob, makeRun, parseCreated, parseLink, startGithub } from "./github.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TOKEN = "ghp_test";
const STD = { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "gha-metrics-test" };

/** → { status, headers, text, json } */
function request(url, { method = "GET", token = TOKEN, scheme = "Bearer", headers = {}, body, std = STD } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...std, ...headers };
    if (token) h.authorization = `${scheme} ${token}`;
    for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
    const req = http.request(url, { method, headers: h }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const DAY = 86_400_000;
const T0 = Date.parse("2024-05-01T00:00:00Z");

function b64url(x) {
  return Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");
}
function signJwt(privateKey, claims, header = { alg: "RS256", typ: "JWT" }) {
  const data = `${b64url(header)}.${b64url(claims)}`;
  return `${data}.${cryptoSign("RSA-SHA256", Buffer.from(data), privateKey).toString("base64url")}`;
}

describe("github stand-in", () => {
  let gh;
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const APP_ID = 4242;
  const api = (p) => `${gh.url}${p}`;

  before(async () => {
    gh = await startGithub({ token: TOKEN, appId: APP_ID, appPublicKeyPem: publicKey.export({ type: "spki", format: "pem" }), installationId: 77 });
  });
  after(async () => gh.close());
  beforeEach(() => gh.reset());

  test("pagination walk over 250 runs follows Link (per_page 100 → 3 pages), created_at desc", async () => {
    gh.addRepo("octo-org/big");
    for (let i = 0; i < 250; i++) gh.addRun("octo-org/big", makeRun({ id: 1000 + i, created_at: iso(T0 + i * 60_000) }));
    let url = api("/repos/octo-org/big/actions/runs?per_page=100");
    const seen = [];
    const links = [];
    while (url) {
      const r = await request(url);
      assert.equal(r.status, 200);
      assert.equal(r.json.total_count, 250);
      seen.push(...r.json.workflow_runs.map((x) => x.id));
      links.push(parseLink(r.headers.link));
      url = parseLink(r.headers.link).next;
    }
    assert.equal(links.length, 3);
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen).size, 250);
    assert.equal(seen[0], 1249);
    assert.equal(seen[249], 1000);
    assert.match(links[0].last, /[?&]page=3(&|$)/);
    assert.match(links[0].next, /per_page=100/);
    assert.equal(links[0].prev, undefined);
    assert.match(links[1].prev, /page=1/);
    assert.match(links[1].first, /page=1/);
    assert.equal(links[2].next, undefined);
    assert.equal(gh.counts().counted, 3);
    // default per_page 30; per_page above the max is clamped to 100
    const d = await request(api("/repos/octo-org/big/actions/runs"));
    assert.equal(d.json.workflow_runs.length, 30);
    const big = await request(api("/repos/octo-org/big/actions/runs?per_page=500"));
    assert.equal(big.json.workflow_runs.length, 100);
    // run shape comes from the examples, with URLs pointing at the stand-in
    const run = d.json.workflow_runs[0];
    for (const k of ["id", "run_attempt", "name", "workflow_id", "event", "head_branch", "status", "conclusion", "created_at", "run_started_at", "updated_at", "html_url", "head_sha", "actor"]) assert.ok(k in run, k);
    assert.equal(run.repository.full_name, "octo-org/big");
    assert.ok(run.jobs_url.startsWith(gh.url));
  });

  test("created filters: ranges, >=, <=, *.., exact day, date-times; status as status or conclusion", async () => {
    gh.addRepo("o/r");
    // one run per day at 12:00 for 10 days (May 1..10), alternating success / failure
    for (let i = 0; i < 10; i++) gh.addRun("o/r", makeRun({ id: i + 1, created_at: iso(T0 + i * DAY + 12 * 3600_000), conclusion: i % 2 ? "failure" : "success" }));
    gh.addRun("o/r", makeRun({ id: 99, created_at: iso(T0 + 10 * DAY), status: "in_progress", conclusion: null }));
    const ids = async (q) => {
      const r = await request(api(`/repos/o/r/actions/runs?per_page=100&${q}`));
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      assert.equal(r.json.total_count, r.json.workflow_runs.length);
      return r.json.workflow_runs.map((x) => x.id).sort((a, b) => a - b);
    };
    const enc = encodeURIComponent;
    assert.deepEqual(await ids(`created=${enc("2024-05-02..2024-05-04")}`), [2, 3, 4]);
    assert.deepEqual(await ids(`created=${enc(">=2024-05-09")}`), [9, 10, 99]);
    assert.deepEqual(await ids(`created=${enc(">2024-05-09")}`), [10, 99]);
    assert.deepEqual(await ids(`created=${enc("<=2024-05-02")}`), [1, 2]);
    assert.deepEqual(await ids(`created=${enc("<2024-05-02")}`), [1]);
    assert.deepEqual(await ids(`created=${enc("*..2024-05-03")}`), [1, 2, 3]);
    assert.deepEqual(await ids(`created=${enc("2024-05-10..*")}`), [10, 99]);
    assert.deepEqual(await ids(`created=2024-05-05`), [5]);
    assert.deepEqual(await ids(`created=${enc("2024-05-02T12:00:00Z..2024-05-03T11:59:59Z")}`), [2]);
    assert.deepEqual(await ids(`created=${enc("2024-05-02T12:00:01Z..2024-05-03T12:00:00Z")}`), [3]);
    assert.deepEqual(await ids(`created=${enc(">=2024-05-10T00:00:00Z")}`), [10, 99]);
    assert.deepEqual(await ids(`status=completed`), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(await ids(`status=failure`), [2, 4, 6, 8, 10]);
    assert.deepEqual(await ids(`status=in_progress`), [99]);
    assert.deepEqual(await ids(`status=success&created=${enc("2024-05-01..2024-05-04")}`), [1, 3]);
    assert.equal((await request(api("/repos/o/r/actions/runs?created=yesterday"))).status, 422);
    assert.equal((await request(api("/repos/o/r/actions/runs?status=bogus"))).status, 422);
    assert.deepEqual(parseCreated("2024-05-01"), { from: T0, to: T0 + DAY });
  });

  test("1,000-result cap: with a filter only 1,000 results are reachable, total_count is true", async () => {
    gh.addRepo("o/huge");
    gh.addRuns("o/huge", Array.from({ length: 1150 }, (_, i) => makeRun({ id: 5000 + i, created_at: iso(T0 + i * 1000) })));
    const q = `created=${encodeURIComponent(">=2024-01-01")}&per_page=100`;
    const p10 = await request(api(`/repos/o/huge/actions/runs?${q}&page=10`));
    assert.equal(p10.json.total_count, 1150);
    assert.equal(p10.json.workflow_runs.length, 100);
    assert.equal(parseLink(p10.headers.link).next, undefined, "no next page past the cap");
    const p11 = await request(api(`/repos/o/huge/actions/runs?${q}&page=11`));
    assert.equal(p11.status, 200);
    assert.equal(p11.json.total_count, 1150);
    assert.deepEqual(p11.json.workflow_runs, []);
    const first = await request(api(`/repos/o/huge/actions/runs?${q}`));
    assert.match(parseLink(first.headers.link).last, /page=10/);
    // without any filter all results are reachable
    const nf = await request(api(`/repos/o/huge/actions/runs?per_page=100&page=12`));
    assert.equal(nf.json.workflow_runs.length, 50);
  });

  test("ETag: 200 carries W/\"sha1\"; If-None-Match → 304 without body, not counted", async () => {
    gh.addRepo("o/r");
    gh.addRun("o/r", makeRun({ id: 1, created_at: "2024-05-01T00:00:00Z" }));
    const a = await request(api("/repos/o/r/actions/runs"));
    assert.match(a.headers.etag, /^W\/"[0-9a-f]{40}"$/);
    const rem = Number(a.headers["x-ratelimit-remaining"]);
    const b = await request(api("/repos/o/r/actions/runs"), { headers: { "if-none-match": a.headers.etag } });
    assert.equal(b.status, 304);
    assert.equal(b.text, "");
    assert.equal(b.headers.etag, a.headers.etag);
    assert.equal(Number(b.headers["x-ratelimit-remaining"]), rem);
    // data change → new ETag → 200, counted
    gh.addRun("o/r", makeRun({ id: 2, created_at: "2024-05-02T00:00:00Z" }));
    const c = await request(api("/repos/o/r/actions/runs"), { headers: { "if-none-match": a.headers.etag } });
    assert.equal(c.status, 200);
    assert.notEqual(c.headers.etag, a.headers.etag);
    assert.equal(Number(c.headers["x-ratelimit-remaining"]), rem - 1);
    const reqs = gh.requests();
    assert.deepEqual(reqs.map((r) => [r.status, r.counted, r.from304]), [[200, true, false], [304, false, true], [200, true, false]]);
    assert.equal(gh.counts().notModified, 1);
  });

  test("rate limit: headers, exhaustion → 403 until reset, then a fresh window", async () => {
    gh.addRepo("o/r");
    gh.setRateLimit({ limit: 5, remaining: 2, resetInS: 120 });
    const a = await request(api("/repos/o/r/actions/runs"));
    assert.equal(a.headers["x-ratelimit-limit"], "5");
    assert.equal(a.headers["x-ratelimit-remaining"], "1");
    assert.equal(a.headers["x-ratelimit-used"], "4");
    assert.equal(a.headers["x-ratelimit-resource"], "core");
    const reset = Number(a.headers["x-ratelimit-reset"]);
    assert.ok(Math.abs(reset - (Date.now() / 1000 + 120)) < 3);
    assert.equal((await request(api("/repos/o/r/actions/runs"))).headers["x-ratelimit-remaining"], "0");
    const over = await request(api("/repos/o/r/actions/runs"));
    assert.equal(over.status, 403);
    assert.match(over.json.message, /^API rate limit exceeded for user ID 1\./);
    assert.equal(over.headers["x-ratelimit-remaining"], "0");
    assert.equal(Number(over.headers["x-ratelimit-reset"]), reset);
    // /rate_limit is free and still answers
    const rl = await request(api("/rate_limit"));
    assert.equal(rl.status, 200);
    assert.equal(rl.json.resources.core.remaining, 0);
    gh.setClockOffset(121_000);
    const after = await request(api("/repos/o/r/actions/runs"));
    assert.equal(after.status, 200);
    assert.equal(after.headers["x-ratelimit-remaining"], "4");
    assert.ok(Number(after.headers["x-ratelimit-reset"]) > reset + 3500);
    const c = gh.counts();
    assert.equal(c.primaryLimited, 1);
    assert.equal(c.counted, 3);
  });

  test("secondary limit: next n requests → 403 with retry-after, not counted", async () => {
    gh.addRepo("o/r");
    gh.secondaryLimit(2, 7);
    const r1 = await request(api("/repos/o/r/actions/runs"));
    assert.equal(r1.status, 403);
    assert.equal(r1.headers["retry-after"], "7");
    assert.match(r1.json.message, /secondary rate limit/);
    assert.equal(r1.headers["x-ratelimit-remaining"], "5000");
    assert.equal((await request(api("/repos/o/r/actions/runs"))).status, 403);
    const ok = await request(api("/repos/o/r/actions/runs"));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["x-ratelimit-remaining"], "4999");
    gh.secondaryLimit(1, null, { status: 429 });
    const r4 = await request(api("/repos/o/r/actions/runs"));
    assert.equal(r4.status, 429);
    assert.equal(r4.headers["retry-after"], undefined);
    assert.equal(gh.counts().secondaryLimited, 3);
  });

  test("auth, User-Agent, Accept and API version are required", async () => {
    gh.addRepo("o/r");
    const none = await request(api("/repos/o/r/actions/runs"), { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.json.message, "Requires authentication");
    const bad = await request(api("/repos/o/r/actions/runs"), { token: "ghp_wrong" });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.message, "Bad credentials");
    assert.ok(bad.headers["x-ratelimit-limit"]);
    assert.equal((await request(api("/repos/o/r/actions/runs"), { scheme: "token" })).status, 200);
    const noUa = await request(api("/repos/o/r/actions/runs"), { headers: { "user-agent": undefined } });
    assert.equal(noUa.status, 403);
    assert.match(noUa.text, /User-Agent/);
    assert.equal((await request(api("/repos/o/r/actions/runs"), { headers: { accept: "application/json" } })).status, 415);
    assert.equal((await request(api("/repos/o/r/actions/runs"), { headers: { "x-github-api-version": undefined } })).status, 400);
    assert.equal((await request(api("/repos/o/nope/actions/runs"))).status, 404);
    assert.equal((await request(api("/repos/o/r/actions/runs/123/jobs"))).json.message, "Not Found");
    gh.setRepoForbidden("o/r");
    const fb = await request(api("/repos/o/r/actions/runs"));
    assert.equal(fb.status, 403);
    assert.equal(fb.json.message, "Resource not accessible by integration");
    const recs = gh.requests();
    assert.equal(recs[0].auth, null);
    assert.equal(recs[1].headers.authorization, "Bearer <bad>");
    assert.ok(!JSON.stringify(recs).includes(TOKEN), "secrets are not recorded");
    assert.equal(gh.counts().unauthorized, 2);
  });

  test("jobs per attempt, filter=latest|all, pagination", async () => {
    gh.addRepo("o/r");
    gh.addRun("o/r", makeRun({ id: 10, created_at: "2024-05-01T00:00:00Z", run_attempt: 1, conclusion: "failure" }));
    gh.addRun("o/r", makeRun({ id: 10, created_at: "2024-05-01T00:00:00Z", run_attempt: 2, conclusion: "success" }));
    gh.addJob("o/r", 10, 1, makeJob({ id: 101, name: "build", conclusion: "failure" }));
    gh.addJob("o/r", 10, 1, makeJob({ id: 102, name: "test" }));
    for (let i = 0; i < 35; i++) gh.addJob("o/r", 10, 2, makeJob({ id: 200 + i, name: `shard-${i}` }));
    const a1 = await request(api("/repos/o/r/actions/runs/10/attempts/1/jobs"));
    assert.equal(a1.json.total_count, 2);
    assert.deepEqual(a1.json.jobs.map((j) => [j.id, j.run_id, j.run_attempt]), [[101, 10, 1], [102, 10, 1]]);
    assert.ok(a1.json.jobs[0].steps.length > 0 && a1.json.jobs[0].labels.length > 0);
    const a2 = await request(api("/repos/o/r/actions/runs/10/attempts/2/jobs"));
    assert.equal(a2.json.total_count, 35);
    assert.equal(a2.json.jobs.length, 30);
    const next = await request(parseLink(a2.headers.link).next);
    assert.equal(next.json.jobs.length, 5);
    assert.equal((await request(api("/repos/o/r/actions/runs/10/jobs?per_page=100"))).json.total_count, 35);
    assert.equal((await request(api("/repos/o/r/actions/runs/10/jobs?filter=all&per_page=100"))).json.total_count, 37);
    assert.equal((await request(api("/repos/o/r/actions/runs/10/attempts/3/jobs"))).status, 404);
    assert.equal((await request(api("/repos/o/r/actions/runs/11/jobs"))).status, 404);
    // the listing shows the latest attempt; each attempt is addressable
    const runs = await request(api("/repos/o/r/actions/runs"));
    assert.equal(runs.json.total_count, 1);
    assert.equal(runs.json.workflow_runs[0].run_attempt, 2);
    assert.match(runs.json.workflow_runs[0].previous_attempt_url, /attempts\/1$/);
    assert.equal((await request(api("/repos/o/r/actions/runs/10/attempts/1"))).json.conclusion, "failure");
  });

  test("repo discovery: /orgs/{org}/repos paginated, /repositories/{id} alias", async () => {
    for (let i = 0; i < 5; i++) gh.addRepo(`acme/r${i}`);
    gh.addRepo("other/x");
    const p1 = await request(api("/orgs/acme/repos?per_page=2"));
    assert.deepEqual(p1.json.map((r) => r.full_name), ["acme/r0", "acme/r1"]);
    assert.match(parseLink(p1.headers.link).last, /page=3/);
    assert.equal((await request(api("/orgs/nobody/repos"))).status, 404);
    const id = p1.json[0].id;
    gh.addRun("acme/r0", makeRun({ id: 1, created_at: "2024-05-01T00:00:00Z" }));
    const alias = await request(api(`/repositories/${id}/actions/runs`));
    assert.equal(alias.json.total_count, 1);
    // a PAT cannot list installation repositories
    assert.equal((await request(api("/installation/repositories"))).status, 403);
  });

  test("hook deliveries: cursor pagination newest first; redelivery POST → 202, recorded, new OK attempt", async () => {
    const base = Date.parse("2024-05-01T00:00:00Z");
    for (let i = 0; i < 7; i++) {
      gh.addDelivery({ org: "acme", hookId: 9, guid: `guid-${i}`, status: i === 3 ? "failed to connect" : "OK", status_code: i === 3 ? 0 : 200, delivered_at: iso(base + i * 1000) });
    }
    gh.addDelivery({ org: "acme", hookId: 9, guid: "guid-3", status: "Invalid HTTP Response: 503", status_code: 503, delivered_at: iso(base + 10_000), redelivery: true });
    let url = api("/orgs/acme/hooks/9/deliveries?per_page=3");
    const got = [];
    let pages = 0;
    while (url) {
      const r = await request(url);
      assert.equal(r.status, 200);
      got.push(...r.json);
      pages++;
      const l = parseLink(r.headers.link);
      if (l.next) assert.match(l.next, /cursor=v1_\d+/);
      url = l.next;
    }
    assert.equal(pages, 3);
    assert.equal(got.length, 8);
    assert.equal(got[0].guid, "guid-3");
    assert.equal(got[0].redelivery, true);
    assert.deepEqual(got.slice(1).map((d) => d.guid), ["guid-6", "guid-5", "guid-4", "guid-3", "guid-2", "guid-1", "guid-0"]);
    for (const k of ["id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code", "event", "action"]) assert.ok(k in got[0], k);
    const failed = got.filter((d) => d.guid === "guid-3");
    const post = await request(api(`/orgs/acme/hooks/9/deliveries/${failed[0].id}/attempts`), { method: "POST" });
    assert.equal(post.status, 202);
    assert.deepEqual(post.json, {});
    assert.deepEqual(gh.redeliveries().map((r) => [r.hook, r.deliveryId, r.guid]), [["org:acme:9", failed[0].id, "guid-3"]]);
    const after = await request(api("/orgs/acme/hooks/9/deliveries?per_page=100"));
    assert.equal(after.json.length, 9);
    assert.deepEqual([after.json[0].guid, after.json[0].status, after.json[0].redelivery], ["guid-3", "OK", true]);
    assert.equal((await request(api("/orgs/acme/hooks/9/deliveries/1/attempts"), { method: "POST" })).status, 404);
    assert.equal((await request(api("/orgs/acme/hooks/8/deliveries"))).status, 404);
    assert.equal((await request(api("/orgs/acme/hooks/9/deliveries?cursor=junk"))).status, 422);
  });

  test("GitHub App: RS256 JWT → installation token; JWT sanity checks; app hook deliveries", async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = signJwt(privateKey, { iat: now - 60, exp: now + 540, iss: String(APP_ID) });
    const tok = await request(api("/app/installations/77/access_tokens"), { method: "POST", token: jwt });
    assert.equal(tok.status, 201, tok.text);
    assert.match(tok.json.token, /^ghs_/);
    assert.ok(Math.abs(Date.parse(tok.json.expires_at) - (Date.now() + 3600_000)) < 5000);
    gh.addRepo("acme/a");
    gh.addRepo("acme/hidden", { installation: false });
    const repos = await request(api("/installation/repositories"), { token: tok.json.token });
    assert.equal(repos.status, 200);
    assert.deepEqual(repos.json.repositories.map((r) => r.full_name), ["acme/a"]);
    assert.equal(gh.requests().at(-1).auth, "installation");
    // the installation token expires after an hour of the stand-in's clock
    gh.setClockOffset(3601_000);
    assert.equal((await request(api("/installation/repositories"), { token: tok.json.token })).status, 401);
    gh.setClockOffset(0);
    const bad = async (claims, what, opts = {}) => {
      const r = await request(api("/app/installations/77/access_tokens"), { method: "POST", token: signJwt(opts.key || privateKey, claims, opts.header) });
      assert.equal(r.status, 401, what);
      return r;
    };
    await bad({ iat: now - 60, exp: now + 600, iss: String(APP_ID) }, "exp - iat > 10 min");
    await bad({ iat: now - 700, exp: now - 100, iss: String(APP_ID) }, "expired");
    await bad({ iat: now + 300, exp: now + 600, iss: String(APP_ID) }, "iat in the future");
    await bad({ iat: now - 60, exp: now + 500, iss: "999" }, "wrong iss");
    await bad({ iat: now - 60, exp: now + 500, iss: String(APP_ID) }, "wrong key", { key: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey });
    await bad({ iat: now - 60, exp: now + 500, iss: String(APP_ID) }, "alg", { header: { alg: "RS512" } });
    assert.equal((await request(api("/app/installations/78/access_tokens"), { method: "POST", token: jwt })).status, 404);
    // app endpoints need the JWT; API endpoints refuse it
    assert.equal((await request(api("/app/hook/deliveries"))).status, 401);
    assert.equal((await request(api("/repos/acme/a/actions/runs"), { token: jwt })).status, 401);
    gh.addDelivery({ app: true, guid: "g-app", status: "failed to connect", status_code: 0 });
    const list = await request(api("/app/hook/deliveries"), { token: jwt });
    assert.equal(list.status, 200);
    assert.equal(list.json.length, 1);
    const re = await request(api(`/app/hook/deliveries/${list.json[0].id}/attempts`), { method: "POST", token: jwt });
    assert.equal(re.status, 202);
    assert.deepEqual(gh.redeliveries().map((r) => [r.hook, r.guid]), [["app", "g-app"]]);
    assert.deepEqual(gh.deliveries({ app: true }).map((d) => d.status), ["OK", "failed to connect"]);
  });

  test("control over HTTP (connectGithub) and the CLI", async () => {
    const child = spawn(process.execPath, [path.join(HERE, "github.mjs"), "--port", "0", "--token", "ghp_cli"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const line = await new Promise((resolve, reject) => {
        let buf = "";
        child.stdout.on("data", (c) => {
          buf += c;
          if (buf.includes("\n")) resolve(buf.split("\n")[0]);
        });
        child.on("exit", (code) => reject(new Error(`CLI exited ${code}`)));
      });
      const info = JSON.parse(line);
      assert.deepEqual(info.tokens, ["ghp_cli"]);
      const remote = connectGithub(info.url);
      await remote.addRepo("o/r");
      assert.equal(await remote.addRuns("o/r", [{ id: 1, created_at: "2024-05-01T00:00:00Z" }, { id: 2, created_at: "2024-05-02T00:00:00Z" }]), 2);
      await remote.addJob("o/r", 1, 1, { id: 11 });
      await remote.addDelivery({ org: "o", hookId: 1, guid: "x", status: "failed to connect" });
      await remote.setRateLimit({ limit: 10, remaining: 10, resetInS: 60 });
      const r = await request(`${info.url}/repos/o/r/actions/runs`, { token: "ghp_cli" });
      assert.equal(r.json.total_count, 2);
      assert.equal(r.headers["x-ratelimit-remaining"], "9");
      assert.equal((await request(`${info.url}/repos/o/r/actions/runs/1/jobs`, { token: "ghp_cli" })).json.jobs[0].id, 11);
      assert.equal(await remote.secondaryLimit(1, 3), 1);
      assert.equal((await request(`${info.url}/repos/o/r/actions/runs`, { token: "ghp_cli" })).headers["retry-after"], "3");
      const c = await remote.counts();
      assert.equal(c.requests, 3);
      assert.equal((await remote.requests()).length, 3);
      await remote.reset();
      assert.equal((await remote.counts()).requests, 0);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
