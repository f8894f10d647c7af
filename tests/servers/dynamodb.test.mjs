// The DynamoDB stand-in must refuse what DynamoDB refuses: a ledger test that passed against a proxy
// which let a badly signed request through, or a dynalite that accepted a malformed condition, would
// prove nothing about the real table.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { DEFAULT_CREDENTIAL, DEFAULT_REGION, startDynamo } from "./dynamodb.mjs";
import { signRequest, toAmzDate } from "./aws.mjs";

let ddb;
before(async () => {
  ddb = await startDynamo({ table: "stand-in-test" });
});
after(async () => {
  await ddb?.close();
});

async function call(op, payload, { cred = DEFAULT_CREDENTIAL, amzDate, tamper } = {}) {
  const body = JSON.stringify(payload);
  const headers = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": `DynamoDB_20120810.${op}`,
    Host: new URL(ddb.url).host,
  };
  const signed = signRequest({
    url: "/", headers, body, accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey,
    region: DEFAULT_REGION, service: "dynamodb", ...(amzDate ? { amzDate } : {}),
  });
  const h = { ...signed.headers };
  delete h.Host;
  const res = await fetch(ddb.url + "/", { method: "POST", headers: h, body: tamper ? tamper(body) : body });
  return { status: res.status, json: await res.json().catch(() => null) };
}

const claim = (pk, owner) => ({
  TableName: "stand-in-test",
  Item: { pk: { S: pk }, owner: { S: owner } },
  ConditionExpression: "attribute_not_exists(#k) OR #o = :me",
  ExpressionAttributeNames: { "#k": "pk", "#o": "owner" },
  ExpressionAttributeValues: { ":me": { S: owner } },
});

test("a correctly signed conditional PutItem is applied once; another owner gets ConditionalCheckFailed", async () => {
  const first = await call("PutItem", claim("r:1:1", "a"));
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const again = await call("PutItem", claim("r:1:1", "a"));
  assert.equal(again.status, 200);
  const other = await call("PutItem", claim("r:1:1", "b"));
  assert.equal(other.status, 400);
  assert.match(other.json.__type, /ConditionalCheckFailedException$/);
});

test("a wrong secret, a body changed after signing, or a stale date is refused with DynamoDB's 400", async () => {
  const wrong = await call("PutItem", claim("r:2:1", "a"), { cred: { ...DEFAULT_CREDENTIAL, secretAccessKey: "not-the-secret" } });
  assert.equal(wrong.status, 400);
  assert.match(wrong.json.__type, /InvalidSignatureException$/);
  const tampered = await call("PutItem", claim("r:2:1", "a"), { tamper: (b) => b.replace('"a"', '"z"') });
  assert.equal(tampered.status, 400);
  assert.match(tampered.json.__type, /InvalidSignatureException$/);
  const stale = await call("PutItem", claim("r:2:1", "a"), { amzDate: toAmzDate(Date.now() - 20 * 60_000) });
  assert.equal(stale.status, 400);
  assert.match(stale.json.__type, /InvalidSignatureException$/);
  const unknown = await call("PutItem", claim("r:2:1", "a"), { cred: { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "x" } });
  assert.equal(unknown.status, 400);
  assert.match(unknown.json.__type, /UnrecognizedClientException$/);
  // None of them wrote anything.
  const got = await call("GetItem", { TableName: "stand-in-test", Key: { pk: { S: "r:2:1" } }, ConsistentRead: true });
  assert.equal(got.status, 200);
  assert.equal(got.json.Item, undefined);
});

test("what DynamoDB refuses in a request, dynalite refuses too: a reserved word, duplicate keys in a batch", async () => {
  const reserved = await call("PutItem", {
    TableName: "stand-in-test", Item: { pk: { S: "r:3:1" }, owner: { S: "a" } },
    ConditionExpression: "attribute_not_exists(pk) OR owner = :me", ExpressionAttributeValues: { ":me": { S: "a" } },
  });
  assert.equal(reserved.status, 400);
  assert.match(reserved.json.__type, /ValidationException$/);
  const dup = await call("BatchGetItem", { RequestItems: { "stand-in-test": { Keys: [{ pk: { S: "x" } }, { pk: { S: "x" } }] } } });
  assert.equal(dup.status, 400);
  assert.match(dup.json.__type, /ValidationException$/);
});
