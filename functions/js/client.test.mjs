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
