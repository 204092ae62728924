// Tests of tailor-authconnection.mjs. Run with `node --test functions/js/`.
//
// The "live" tests need a running tokend (the Go test TestServeProcessesAndNode in
// tokend/e2e_test.go starts one and runs this file with the variables set):
//   TAILOR_TOKEND_URL, TAILOR_TOKEND_API_KEY  tokend and a key allowed for the connections below
//   TAILOR_TEST_CONNECTION                    an authorized connection (google-oauth)
//   TAILOR_TEST_UNAUTHORIZED                  a connection that exists but is not authorized
//   TAILOR_TEST_FORBIDDEN                     a connection the key may not use
//   TAILOR_TEST_MISSING                       a name the key may use that does not exist
//   TAILOR_TEST_USERINFO_URL, TAILOR_TEST_SUBJECT  the provider's userinfo endpoint and the user
// Without TAILOR_TOKEND_URL they are skipped; the offline tests always run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { AuthConnectionError, createAuthConnection } from "./tailor-authconnection.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const live = env.TAILOR_TOKEND_URL ? {} : { skip: "TAILOR_TOKEND_URL is not set (run through tokend/e2e_test.go)" };

test("importing installs globalThis.tailor.authconnection.getConnectionToken", () => {
  assert.equal(typeof globalThis.tailor?.authconnection?.getConnectionToken, "function");
  assert.equal(typeof globalThis.tailor?.authconnection?.getConnection, "function");
  assert.equal(typeof globalThis.tailor?.authconnection?.fetch, "function");
});

test("offline: typed errors from tokend's JSON answers", async () => {
  const answers = {
    "not-there": [404, { error: "not_found", message: 'connection "not-there" does not exist' }, {}],
    "needs-auth": [409, { error: "needs_reauthorization", message: "run `tokend authorize needs-auth`" }, {}],
    "down": [503, { error: "unavailable", message: "provider down" }, { "retry-after": "7" }],
  };
  const fakeFetch = async (url, init) => {
    assert.equal(init.headers.Authorization, "Bearer tk_test_key");
    const name = decodeURIComponent(new URL(url).pathname.split("/")[3]);
    const [status, body, headers] = answers[name];
    return new Response(JSON.stringify(body), { status, headers });
  };
  const ac = createAuthConnection({ url: "http://tokend.invalid/", apiKey: "tk_test_key", fetch: fakeFetch });
  await assert.rejects(ac.getConnectionToken("not-there"), (e) => e instanceof AuthConnectionError && e.code === "not_found" && e.status === 404);
  await assert.rejects(ac.getConnectionToken("needs-auth"), (e) => e.code === "needs_reauthorization" && e.status === 409 && /tokend authorize/.test(e.message));
  await assert.rejects(ac.getConnectionToken("down"), (e) => e.code === "unavailable" && e.retryAfter === 7 && e.retryable);
  await assert.rejects(ac.getConnectionToken("Bad Name"), (e) => e instanceof AuthConnectionError && e.code === "invalid_name" && e.status === 0);
});

test("offline: unreachable tokend and missing configuration", async () => {
  const ac = createAuthConnection({ url: "http://127.0.0.1:9", apiKey: "x", timeoutMs: 2000 });
  await assert.rejects(ac.getConnectionToken("google-oauth"), (e) => e.code === "unreachable" && e.status === 0 && e.retryable);
  const none = createAuthConnection({ url: "", apiKey: "" });
  await assert.rejects(none.getConnectionToken("google-oauth"), (e) => e.code === "config" && /TAILOR_TOKEND_URL/.test(e.message));
});

test("live: getConnectionToken returns access_token, token_type and an RFC 3339 expires_at", live, async () => {
  const t = await globalThis.tailor.authconnection.getConnectionToken(env.TAILOR_TEST_CONNECTION);
  // The seed's three fields, plus metadata and api_base_url ({} and null for a connection
  // whose catalog entry declares none, as the generic OpenID Connect one here).
  assert.deepEqual(Object.keys(t).sort(), ["access_token", "api_base_url", "expires_at", "metadata", "token_type"]);
  assert.deepEqual(t.metadata, {});
  assert.equal(t.api_base_url, null);
  assert.ok(t.access_token.length > 10);
  assert.equal(t.token_type.toLowerCase(), "bearer");
  assert.match(t.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(Date.parse(t.expires_at) > Date.now(), "expires_at is in the future");
  assert.equal("refresh_token" in t, false);
});

test("live: concurrent calls all succeed", live, async () => {
  const all = await Promise.all(Array.from({ length: 50 }, () => globalThis.tailor.authconnection.getConnectionToken(env.TAILOR_TEST_CONNECTION)));
  assert.equal(all.length, 50);
  for (const t of all) assert.ok(Date.parse(t.expires_at) > Date.now());
});

test("live: typed errors from a real tokend", live, async () => {
  const gct = globalThis.tailor.authconnection.getConnectionToken;
  await assert.rejects(gct(env.TAILOR_TEST_MISSING ?? "google-missing"), (e) => e instanceof AuthConnectionError && e.status === 404 && e.code === "not_found");
  await assert.rejects(gct(env.TAILOR_TEST_UNAUTHORIZED), (e) => e.status === 409 && e.code === "not_authorized" && e.message.includes(`tokend authorize ${env.TAILOR_TEST_UNAUTHORIZED}`));
  await assert.rejects(gct(env.TAILOR_TEST_FORBIDDEN), (e) => e.status === 403 && e.code === "forbidden");
  const badKey = createAuthConnection({ apiKey: "tk_aaaaaaaaaaaa_notavalidsecretnotavalidsecret" });
  await assert.rejects(badKey.getConnectionToken(env.TAILOR_TEST_CONNECTION), (e) => e.status === 401 && e.code === "unauthenticated");
});

test("live: the seed's function example runs unchanged and reads the provider's userinfo", live, () => {
  const res = spawnSync(process.execPath, [path.join(here, "run-function.mjs"), path.join(here, "examples", "basic-usage.mjs")], {
    env: { ...env, TAILOR_FETCH_REWRITE: `https://www.googleapis.com/oauth2/v2/userinfo=${env.TAILOR_TEST_USERINFO_URL}` },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(res.status, 0, res.stderr);
  const info = JSON.parse(res.stdout);
  assert.equal(info.sub, env.TAILOR_TEST_SUBJECT);
});
