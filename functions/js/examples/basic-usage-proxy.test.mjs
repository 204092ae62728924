// Test of the proxy variant of the seed's example: a fake tokend with a proxy-only key (403
// on the token endpoint) whose proxy answers as Google's userinfo would.
// Run with `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { install } from "../tailor-authconnection.mjs";
import { fakeTokend } from "./fake-tokend.mjs";
import userInfo from "./basic-usage-proxy.mjs";

test("basic-usage-proxy calls userinfo through the proxy and never asks for the token", async () => {
  const tokend = await fakeTokend({
    "GET /v1/connections/google-oauth/proxy/oauth2/v2/userinfo": () => ({ id: "1234", email: "demo@example.com" }),
  });
  try {
    install({ url: tokend.url, apiKey: "tk_proxy_only" });
    assert.deepEqual(await userInfo(), { id: "1234", email: "demo@example.com" });
    assert.deepEqual(tokend.seen.map((s) => [s.url, s.auth]),
      [["/v1/connections/google-oauth/proxy/oauth2/v2/userinfo", "Bearer tk_proxy_only"]]);
  } finally {
    await tokend.close();
  }
});
