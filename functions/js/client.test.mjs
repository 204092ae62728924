// Tests of client.mjs, the side-effect-free client. Run with `node --test functions/js/`
// (each test file runs in a process of its own, so the global is checked untouched here).
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthConnectionError, createAuthConnection, NAME_PATTERN, validName } from "./client.mjs";

test("importing client.mjs installs no global", () => {
  assert.equal(globalThis.tailor, undefined);
});

test("an invalid name is refused before any request, with its own code", async () => {
  let calls = 0;
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "k", fetch: async () => { calls++; } });
  for (const bad of ["Google", "a_b", "-x", "x-", "", "a".repeat(64), 42, undefined]) {
    await assert.rejects(ac.getConnectionToken(bad), (e) => e instanceof AuthConnectionError && e.code === "invalid_name" && e.status === 0 && /lowercase letters/.test(e.message));
  }
  assert.equal(calls, 0);
  assert.ok(validName("google-oauth-prod") && validName("a".repeat(63)));
  assert.equal(NAME_PATTERN, "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
});

test("tokend's invalid_name answer keeps its code", async () => {
  const fetch = async () => new Response(JSON.stringify({ error: "invalid_name", message: "invalid connection name" }), { status: 400 });
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "k", fetch });
  await assert.rejects(ac.getConnectionToken("ok-name"), (e) => e.code === "invalid_name" && e.status === 400);
});

test("metadata and api_base_url come with the token; absent, they are {} and null", async () => {
  const body = { access_token: "at", token_type: "Bearer", expires_at: "2026-12-06T08:00:00Z", metadata: { realmId: "9130" }, api_base_url: "https://sandbox-quickbooks.api.intuit.com" };
  let answer = body;
  const fetch = async () => new Response(JSON.stringify(answer), { status: 200 });
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "k", fetch });
  const t = await ac.getConnectionToken("quickbooks-oauth");
  assert.deepEqual(t.metadata, { realmId: "9130" });
  assert.equal(t.api_base_url, "https://sandbox-quickbooks.api.intuit.com");
  answer = { access_token: "at", token_type: "Bearer", expires_at: "2026-12-06T08:00:00Z" };
  const plain = await ac.getConnectionToken("google-oauth");
  assert.deepEqual(plain.metadata, {});
  assert.equal(plain.api_base_url, null);
  assert.deepEqual(Object.keys(plain), ["access_token", "token_type", "expires_at", "metadata", "api_base_url"]);
});

test("fetch goes through tokend's proxy with the API key, and hands back the Response as is", async () => {
  const seen = [];
  const fake = async (url, init) => {
    seen.push({ url, init });
    return new Response("upstream body", { status: 201, headers: { "x-upstream": "1", "tailor-proxy-attempts": "1" } });
  };
  const ac = createAuthConnection({ url: "http://tokend.invalid/", apiKey: "tk_key", fetch: fake });
  const res = await ac.fetch("quickbooks-oauth", "/v3/company/9130/companyinfo/9130?minorversion=75", {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer caller-must-not-win" }, body: "{}",
  });
  assert.equal(res.status, 201);
  assert.equal(await res.text(), "upstream body");
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "http://tokend.invalid/v1/connections/quickbooks-oauth/proxy/v3/company/9130/companyinfo/9130?minorversion=75");
  assert.equal(seen[0].init.method, "POST");
  assert.equal(seen[0].init.headers.get("authorization"), "Bearer tk_key");
  assert.equal(seen[0].init.headers.get("content-type"), "application/json");
  await assert.rejects(ac.fetch("Bad_Name", "/x"), (e) => e.code === "invalid_name" && e.status === 0);
  assert.equal(seen.length, 1, "an invalid name makes no request");
});

test("fetch streams an upload body (duplex half) and reports an unreachable tokend", async () => {
  let got;
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "k", fetch: async (url, init) => { got = init; return new Response(null, { status: 204 }); } });
  const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("chunk")); c.close(); } });
  await ac.fetch("files", "upload", { method: "PUT", body });
  assert.equal(got.duplex, "half");
  const down = createAuthConnection({ url: "http://127.0.0.1:9", apiKey: "k" });
  await assert.rejects(down.fetch("files", "x"), (e) => e.code === "unreachable");
});

test("getConnection asks GET /v1/connections/{name} with the key and returns the non-secret view", async () => {
  const seen = [];
  let answer = { name: "quickbooks-oauth", status: "authorized", cached: true, metadata: { realmId: "9130" }, api_base_url: "https://quickbooks.api.intuit.com" };
  const fetch = async (url, init) => {
    seen.push({ url, init });
    return new Response(JSON.stringify(answer), { status: 200 });
  };
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "tk_key", fetch });
  const c = await ac.getConnection("quickbooks-oauth");
  assert.equal(seen[0].url, "http://tokend.invalid/v1/connections/quickbooks-oauth");
  assert.equal(seen[0].init.headers.Authorization, "Bearer tk_key");
  assert.deepEqual(c, answer);
  assert.equal("access_token" in c, false);
  answer = { name: "google-oauth", status: "not_authorized", cached: false };
  const plain = await ac.getConnection("google-oauth");
  assert.deepEqual(plain.metadata, {});
  assert.equal(plain.api_base_url, null);
});

test("getConnection's not_found (a missing connection) keeps its code", async () => {
  const fetch = async () => new Response(JSON.stringify({ error: "not_found", message: "connection \"x\" does not exist, or this API key may not use it" }), { status: 404 });
  const ac = createAuthConnection({ url: "http://tokend.invalid", apiKey: "k", fetch });
  await assert.rejects(ac.getConnection("x"), (e) => e instanceof AuthConnectionError && e.code === "not_found" && e.status === 404);
  await assert.rejects(ac.getConnection("Bad_Name"), (e) => e.code === "invalid_name" && e.status === 0);
});
