// The command line: version, --help, usage errors (exit 2), check-config and
// its FILE:LINE: key: messages, refusing to run without a secret, the embedded
// default configuration, and a graceful SIGTERM with requests in flight.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";

import {
  SECRET, baseConfig, deliver, example, explain, freshIds, run, startServer, summary, tempDir, toYaml, waitFor,
} from "./lib/harness.mjs";

const USAGE = /usage: gha-metrics/i;

describe("version and --help", () => {
  test("`version` prints gha-metrics X.Y.Z and exits 0", async () => {
    const r = await run(["version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^gha-metrics \d+\.\d+\.\d+\S*\n$/);
  });

  for (const args of [["--help"], ["serve", "--help"], ["check-config", "--help"], ["version", "--help"]]) {
    test(`\`${args.join(" ")}\` prints usage on stdout and exits 0`, async () => {
      const r = await run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, USAGE);
      assert.equal(r.stderr, "");
    });
  }

  test("`serve --help` names --config", async () => {
    const r = await run(["serve", "--help"]);
    assert.match(r.stdout, /--config/);
  });
});

describe("usage errors exit 2 with the usage on stderr", () => {
  const cases = [
    ["no command at all", []],
    ["an unknown command", ["frobnicate"]],
    ["an unknown flag of serve", ["serve", "--bogus"]],
    ["serve --config without its FILE", ["serve", "--config"]],
    ["an extra argument to serve", ["serve", "extra"]],
    ["check-config without FILE", ["check-config"]],
    ["an unknown flag of check-config", ["check-config", "--bogus", "x.yaml"]],
    ["check-config with two files", ["check-config", "a.yaml", "b.yaml"]],
    ["an unknown flag of version", ["version", "--bogus"]],
  ];
  for (const [name, args] of cases) {
    test(`${name}: \`gha-metrics ${args.join(" ")}\` → exit 2`, async () => {
      const r = await run(args, { cwd: tempDir() });
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, USAGE);
      assert.equal(r.stdout, "", "nothing on stdout");
    });
  }
});

/** Writes `text` as bad.yaml in a fresh directory and runs check-config on it (relative path). */
async function checkConfig(text, { env = {}, name = "bad.yaml" } = {}) {
  const dir = tempDir();
  writeFileSync(path.join(dir, name), text);
  return run(["check-config", name], { cwd: dir, env });
}

/** A valid configuration, line by line, so that errors can be placed on a known line. */
function lines(overrides = {}) {
  const l = {
    1: "server:",
    2: "  listen:",
    3: "    - address: 127.0.0.1:0",
    4: "  threads: 2",
    5: "webhook:",
    6: "  path: /webhook",
    7: '  secrets: ["a-literal-secret-5d1c"]',
    8: "  max_body: 1MiB",
    9: "spool:",
    10: "  dir: ./spool",
    11: "publish:",
    12: "  sink: emf-file",
    13: "  file: ./metrics.emf.jsonl",
    14: "  namespace: GitHubActions",
    15: "teams:",
    16: '  platform: ["octo-org/octo-repo"]',
    17: "log:",
    18: "  level: info",
    ...overrides,
  };
  return Object.keys(l).sort((a, b) => a - b).map((k) => l[k]).join("\n") + "\n";
}

describe("check-config", () => {
  test("a valid file → `FILE: ok` on stdout, exit 0", async () => {
    const r = await checkConfig(lines(), { name: "good.yaml" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "good.yaml: ok\n");
  });

  test("the tests' generated configuration (plus http2 and shutdown_timeout) is valid", async () => {
    const dir = tempDir();
    const cfg = baseConfig(dir);
    cfg.server.http2 = true;
    cfg.server.shutdown_timeout = "5s";
    writeFileSync(path.join(dir, "c.yaml"), toYaml(cfg));
    const r = await run(["check-config", path.join(dir, "c.yaml")]);
    assert.equal(r.code, 0, r.stderr);
  });

  const errors = [
    ["an unknown key", { 9: "  bogus: 1\nspool:" }, {}, "bad.yaml:9: webhook.bogus: "],
    ["an unknown top-level key", { 19: "frobnicate: yes" }, {}, "bad.yaml:19: frobnicate: "],
    ["a bad size", { 8: "  max_body: 12 parsecs" }, {}, "bad.yaml:8: webhook.max_body: "],
    ["a negative size", { 8: "  max_body: -5MiB" }, {}, "bad.yaml:8: webhook.max_body: "],
    ["a wrong type (threads: many)", { 4: "  threads: many" }, {}, "bad.yaml:4: server.threads: "],
    ["a wrong type (listen is a string)", { 2: "  listen: 127.0.0.1:8080", 3: "  http2: false" }, {}, "bad.yaml:2: server.listen: "],
    ["a bad duration", { 4: "  shutdown_timeout: forever" }, {}, "bad.yaml:4: server.shutdown_timeout: "],
    ["a bad address", { 3: "    - address: not-an-address" }, {}, /^bad\.yaml:3: server\.listen(\[0\])?(\.address)?: /],
    ["an unknown log level", { 18: "  level: chatty" }, {}, "bad.yaml:18: log.level: "],
    ["an unknown sink", { 12: "  sink: carrier-pigeon" }, {}, "bad.yaml:12: publish.sink: "],
    ["a missing secret env var", { 7: '  secrets: ["env:GM_IT_SURELY_UNSET_VARIABLE"]' }, {}, /^bad\.yaml:7: webhook\.secrets(\[0\])?: /],
    ["an empty secret env var", { 7: '  secrets: ["env:GM_IT_EMPTY"]' }, { GM_IT_EMPTY: "" }, /^bad\.yaml:7: webhook\.secrets(\[0\])?: /],
    ["an empty literal secret", { 7: '  secrets: [""]' }, {}, /^bad\.yaml:7: webhook\.secrets(\[0\])?: /],
    ["an unreadable secret file", { 7: '  secrets: ["file:/nonexistent/secret"]' }, {}, /^bad\.yaml:7: webhook\.secrets(\[0\])?: /],
    ["an empty secret list", { 7: "  secrets: []" }, {}, "bad.yaml:7: webhook.secrets: "],
    ["the second secret empty", { 7: "  secrets:\n    - a-literal-secret-5d1c\n    - ''" }, {}, /^bad\.yaml:9: webhook\.secrets(\[1\])?: /],
    ["no secrets key at all", { 7: "  max_body: 1MiB", 8: "" }, {}, /^bad\.yaml:\d+: webhook\.secrets: /],
    ["a YAML syntax error", { 16: '  platform: ["octo-org/octo-repo"' }, {}, /^bad\.yaml:\d+: /],
  ];
  for (const [name, override, env, prefix] of errors) {
    test(`${name} → exit 2, \`${String(prefix).replace(/^\/\^|\/$/g, "")}…\``, async () => {
      const r = await checkConfig(lines(override), { env });
      assert.equal(r.code, 2, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const first = r.stderr.split("\n")[0];
      if (typeof prefix === "string") assert.ok(first.startsWith(prefix), `expected "${prefix}…", got: ${first}`);
      else assert.match(first, prefix);
      assert.ok(first.length > String(prefix).length, "says what is wrong");
      assert.equal(r.stdout, "");
      assert.ok(!r.stderr.includes("a-literal-secret-5d1c"), "a secret value in an error message");
    });
  }

  test("a missing file → exit 2 naming the file", async () => {
    const r = await run(["check-config", "/nonexistent/gha.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^\/nonexistent\/gha\.yaml: /);
  });
});

describe("the receiver refuses to start without a secret", () => {
  const cases = [
    ["an empty secret list", { webhook: { secrets: [] } }, {}],
    ["an empty secret", { webhook: { secrets: [""] } }, {}],
    ["an unset env: secret", { webhook: { secrets: ["env:GM_IT_SURELY_UNSET_VARIABLE"] } }, {}],
    ["an empty env: secret", { webhook: { secrets: ["env:GM_IT_EMPTY"] } }, { GM_IT_EMPTY: "" }],
    ["no secrets key", { webhook: { secrets: null } }, {}],
  ];
  for (const [name, config, env] of cases) {
    test(`serve with ${name} → exit 2 before listening`, async () => {
      const srv = await startServer({ config, env, waitReady: false });
      const exit = await srv.exitWithin(10_000);
      if (!exit) await srv.kill();
      assert.ok(exit, `still running 10 s later\n${srv.stderr}`);
      assert.equal(exit.code, 2, srv.stderr);
      assert.match(srv.stderr, /config\.yaml:\d+: webhook\.secrets/);
      assert.ok(!srv.logs.some((l) => l.msg === "listening"), "it listened");
    });
  }
});

/** Resolves when every listening socket on `port` has an empty accept queue and `n` connections are up. */
async function connectionsAccepted(port, n) {
  const ss = promisify(execFile);
  try {
    await ss("ss", ["-V"]);
  } catch {
    // No iproute2: nothing to poll, so give the server a moment to accept them.
    await new Promise((r) => setTimeout(r, 500));
    return;
  }
  await waitFor(async () => {
    const { stdout: est } = await ss("ss", ["-Htn", "state", "established", `( dport = :${port} )`]);
    if (est.trim().split("\n").filter(Boolean).length < n) return false;
    const { stdout: lst } = await ss("ss", ["-Hltn", `( sport = :${port} )`]);
    return lst.trim().split("\n").filter(Boolean).every((line) => line.trim().split(/\s+/)[1] === "0");
  }, { what: `${n} connections accepted on port ${port}` });
}

describe("SIGTERM with requests in flight", () => {
  test("every in-flight delivery is answered 202, new connections are refused, exit 0", async () => {
    const srv = await startServer();
    try {
      // Three distinct job attempts (the service records an attempt once), so three records are due.
      const jobs = [1, 2, 3].map(() => freshIds(example("workflow_job", (e) => e.action === "completed").payload));
      // ~200 KB bodies uploaded at 50 KB/s: each request is in flight for about 4 s.
      const inflight = jobs.map((job) =>
        deliver(srv.webhookUrl, {
          event: "workflow_job", payload: JSON.stringify({ ...job, padding: "x".repeat(200_000) }), secret: SECRET,
          args: ["--limit-rate", "50K"], timeoutMs: 30_000,
        }).then((res) => ({ ...res, at: Date.now() })));
      await connectionsAccepted(srv.listeners[0].port, 3);

      srv.child.kill("SIGTERM");
      const refusedAt = await waitFor(async () => {
        const r = await srv.get("/healthz", { timeoutMs: 2_000 });
        return r.status === 0 ? Date.now() : false;
      }, { timeoutMs: 10_000, what: "new connections to be refused" });

      const answers = await Promise.all(inflight);
      const exit = await srv.exitWithin(15_000);
      const state = `server: ${exit ? `exited ${exit.code ?? exit.signal}` : "still running"}\n${summary(srv)}`;
      for (const res of answers) assert.equal(res.status, 202, `${explain(res)}\n${state}`);
      assert.ok(refusedAt < Math.max(...answers.map((a) => a.at)), "new connections were refused while requests were in flight");
      await srv.stop();
      // The server has exited: whatever it was going to write before exiting is in the file.
      const records = srv.emfRecords();
      assert.equal(records.length, 3, "the three in-flight deliveries were processed");
      assert.deepEqual(
        records.map((r) => r.DeliveryId).sort(),
        answers.map((a) => a.delivery).sort(),
        "one record for each in-flight delivery",
      );
      assert.deepEqual(
        records.map((r) => r.JobId).sort(),
        jobs.map((j) => j.workflow_job.id).sort(),
        "each record names its delivery's job",
      );
    } finally {
      await srv.kill();
    }
  });
});

/** Whether 127.0.0.1:8080 is free (the embedded default's address). */
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer().once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

describe("`serve` without --config (the embedded default)", () => {
  test("generates ./var/webhook-secret, shows it once, and accepts deliveries signed with it", async (t) => {
    if (!(await portFree(8080))) {
      t.skip("127.0.0.1:8080 is in use");
      return;
    }
    const dir = tempDir();
    const first = await startServer({ dir, args: ["serve"] });
    let secret;
    try {
      assert.equal(first.listeners[0].address, "127.0.0.1:8080");
      const file = path.join(dir, "var", "webhook-secret");
      assert.ok(existsSync(file), "./var/webhook-secret exists");
      assert.equal(statSync(file).mode & 0o077, 0, "the secret file is private (0600)");
      secret = readFileSync(file, "utf8").replace(/\n$/, "");
      assert.ok(secret.length >= 32, "a long secret");
      const shown = (first.stdout + first.stderr).split(secret).length - 1;
      assert.equal(shown, 1, "the secret is shown exactly once");
      assert.ok(!first.stderr.includes(secret), "the secret is not in the log (stderr)");

      const ping = example("ping");
      const ok = await deliver(first.webhookUrl, { event: "ping", payload: ping.payload, secret });
      assert.equal(ok.status, 200, explain(ok));
      const bad = await deliver(first.webhookUrl, { event: "ping", payload: ping.payload, secret: "guess" });
      assert.equal(bad.status, 401, explain(bad));
      await first.stop();
    } finally {
      await first.kill();
    }

    const second = await startServer({ dir, args: ["serve"] });
    try {
      assert.ok(!(second.stdout + second.stderr).includes(secret), "the secret is not shown again");
      assert.equal(readFileSync(path.join(dir, "var", "webhook-secret"), "utf8").replace(/\n$/, ""), secret, "kept");
      const job = example("workflow_job", (e) => e.action === "completed");
      const res = await deliver(second.webhookUrl, { event: "workflow_job", payload: job.payload, secret });
      assert.equal(res.status, 202, explain(res));
      await waitFor(() => existsSync(path.join(dir, "var", "metrics.emf.jsonl")), { what: "./var/metrics.emf.jsonl" });
      await second.stop();
    } finally {
      await second.kill();
    }
  });
});
