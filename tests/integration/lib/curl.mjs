// Every HTTP request of the integration tests goes through the real curl
// binary: the body is written to a file, the answer's headers and body come
// back through files, and `-w` reports the status and the HTTP version.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

let scratch;
let seq = 0;
function scratchFile(name) {
  if (!scratch) {
    scratch = mkdtempSync(path.join(tmpdir(), "gm-curl-"));
    process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
  }
  return path.join(scratch, `${++seq}-${name}`);
}

/**
 * curl(url, options) → {
 *   exitCode,      curl's exit code (0 = a response was received)
 *   status,        HTTP status (0 when none)
 *   httpVersion,   "1.1", "2", ...
 *   headers,       Map of lower-case header name → value (last response block)
 *   body, text,    the response body (Buffer, string)
 *   json,          the body parsed as JSON, or undefined
 *   stderr,        curl's stderr
 *   args           the curl command line (for messages)
 * }
 *
 * options: method, headers (object; a null value removes curl's default
 * header), body (string | Buffer, sent with --data-binary), insecure (-k),
 * args (extra curl arguments), timeoutMs.
 */
export function curl(url, { method, headers = {}, body, insecure = false, args = [], timeoutMs = 15_000 } = {}) {
  const bodyOut = scratchFile("body");
  const headersOut = scratchFile("headers");
  const argv = ["-sS", "-o", bodyOut, "-D", headersOut, "-w", "%{http_code} %{http_version}"];
  argv.push("--max-time", String(Math.ceil(timeoutMs / 1000)));
  if (insecure) argv.push("-k");
  if (method) argv.push("-X", method);
  if (body !== undefined) {
    const bodyIn = scratchFile("request");
    writeFileSync(bodyIn, body);
    argv.push("--data-binary", `@${bodyIn}`);
    // No "Expect: 100-continue" round trip unless a test asks for it.
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "expect")) argv.push("-H", "Expect:");
  }
  for (const [name, value] of Object.entries(headers)) {
    argv.push("-H", value === null ? `${name}:` : `${name}: ${value}`);
  }
  argv.push(...args, url);

  return new Promise((resolve) => {
    execFile("curl", argv, { encoding: "utf8", timeout: timeoutMs + 5_000 }, (err, stdout, stderr) => {
      const exitCode = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      const [code, version] = String(stdout).trim().split(" ");
      const body = readOr(bodyOut, Buffer.alloc(0));
      const text = body.toString("utf8");
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({
        exitCode,
        status: Number(code) || 0,
        httpVersion: version ?? "",
        headers: parseHeaders(readOr(headersOut, Buffer.alloc(0)).toString("latin1")),
        body,
        text,
        json,
        stderr,
        args: argv,
      });
    });
  });
}

function readOr(file, fallback) {
  try {
    return readFileSync(file);
  } catch {
    return fallback;
  }
}

/** Headers of the last response block (after any 100 Continue). */
function parseHeaders(raw) {
  const blocks = raw.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const map = new Map();
  const last = blocks.at(-1);
  if (!last) return map;
  for (const line of last.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) map.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return map;
}

/** A one-line description of a request and its answer, for assertion messages. */
export function explain(res) {
  return `curl ${res.args.map((a) => (scratch && a.includes(scratch) ? "FILE" : a.slice(0, 120))).join(" ")} → exit ${res.exitCode}, ` +
    `HTTP ${res.status} (${res.httpVersion}) ${res.text.slice(0, 300)} ${res.stderr.trim()}`;
}
