-- wrk script for bench/ingest: POSTs one signed workflow_run delivery over and
-- over, each request with a DISTINCT X-GitHub-Delivery.
--
-- The signature (X-Hub-Signature-256) covers the body only, so the body and
-- its signature stay constant while the delivery id changes: every request is
-- a new, validly signed delivery that gha-metrics must append and fdatasync
-- before it answers 202. (A repeated id would be answered 200 "duplicate"
-- without touching the disk.)
--
-- Ids look like GitHub's (8-4-4-4-12 hex): <tag>-<thread>-4000-8000-<counter>,
-- where <tag> is a random 32-bit value chosen per wrk run by the caller, so
-- ids are unique across threads, across the warm-up and the measured run, and
-- across cells.
--
-- wrk ... -s webhook.lua <url> -- BODY_FILE SIGNATURE TAG [PATH]
--
-- done() prints one JSON line on stdout:
--   {"tool":"wrk","requests":N,"duration_us":N,"status":{"202":N,...},
--    "errors":{"connect":N,"read":N,"write":N,"timeout":N},
--    "latency_us":{"p50":N,"p99":N,"max":N,"mean":N}}

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local request_prefix, request_suffix, id_prefix
local counter = 0
statuses = {}

function init(args)
  local body_file, signature, tag, path = args[1], args[2], args[3], args[4] or "/webhook"
  assert(body_file and signature and tag, "usage: -- BODY_FILE SIGNATURE TAG [PATH]")
  local f = assert(io.open(body_file, "rb"))
  local body = f:read("*a")
  f:close()
  local host = wrk.host
  if wrk.port then host = host .. ":" .. wrk.port end
  request_prefix = "POST " .. path .. " HTTP/1.1\r\n" ..
    "Host: " .. host .. "\r\n" ..
    "User-Agent: GitHub-Hookshot/bench\r\n" ..
    "Accept: */*\r\n" ..
    "Content-Type: application/json\r\n" ..
    "X-GitHub-Event: workflow_run\r\n" ..
    "X-GitHub-Hook-ID: 1\r\n" ..
    "X-Hub-Signature-256: " .. signature .. "\r\n" ..
    "Content-Length: " .. #body .. "\r\n" ..
    "X-GitHub-Delivery: "
  request_suffix = "\r\n\r\n" .. body
  id_prefix = string.format("%s-%04x-4000-8000-", tag, tid)
end

function request()
  counter = counter + 1
  return request_prefix .. id_prefix .. string.format("%012x", counter) .. request_suffix
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    '{"tool":"wrk","requests":%d,"duration_us":%d,"status":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
