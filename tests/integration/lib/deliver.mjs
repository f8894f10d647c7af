// Signing and sending webhook deliveries the way GitHub does.

import { createHmac, randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";

import { curl } from "./curl.mjs";

export { sign };

/** "sha256=<hex>" over the raw body: @octokit/webhooks-methods for strings, node:crypto for raw bytes. */
export async function signBody(secret, body) {
  if (typeof body === "string" && body.length > 0) return sign(secret, body);
  // sign() takes non-empty strings only: raw bytes (invalid UTF-8) and the empty body are signed here.
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** The other content type GitHub offers: payload=<url-encoded JSON>. */
export function formBody(json) {
  return new URLSearchParams({ payload: json }).toString();
}

/**
 * POSTs one delivery with curl and returns curl()'s result plus `delivery`.
 *
 *   event        X-GitHub-Event (null: header left out)
 *   payload      object (JSON.stringify'd), string or Buffer: the JSON document
 *   encoding     "json" (default) or "form" (payload=<urlencoded JSON>)
 *   contentType  overrides the Content-Type (null: no Content-Type header at all)
 *   secret       key for X-Hub-Signature-256 (required unless signature is given)
 *   signature    overrides X-Hub-Signature-256 (null: header left out)
 *   delivery     X-GitHub-Delivery (default: a new UUID; null: header left out)
 *   headers      extra headers; args: extra curl arguments
 */
export async function deliver(url, {
  event,
  payload,
  encoding = "json",
  contentType,
  secret,
  signature,
  delivery = randomUUID(),
  headers = {},
  args = [],
  method = "POST",
  insecure = true,
  timeoutMs,
} = {}) {
  const json = Buffer.isBuffer(payload) || typeof payload === "string" ? payload : JSON.stringify(payload);
  const body = encoding === "form" ? formBody(Buffer.isBuffer(json) ? json.toString("utf8") : json) : json;
  const type = contentType !== undefined ? contentType
    : encoding === "form" ? "application/x-www-form-urlencoded" : "application/json";
  const sig = signature !== undefined ? signature : await signBody(secret, body);

  const h = {
    "User-Agent": "GitHub-Hookshot/integration-test",
    "Content-Type": type,
    ...(event !== null && event !== undefined ? { "X-GitHub-Event": event } : {}),
    ...(delivery !== null ? { "X-GitHub-Delivery": delivery } : {}),
    ...(sig !== null ? { "X-Hub-Signature-256": sig } : {}),
    ...headers,
  };
  const res = await curl(url, { method, headers: h, body, args, insecure, timeoutMs });
  return { ...res, delivery };
}
