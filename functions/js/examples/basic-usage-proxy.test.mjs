// Test of the proxy variant of the seed's example: a local server plays tokend with a
// proxy-only key (403 on the token endpoint) whose proxy answers as Google's userinfo would.
// Run with `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { install } from "../tailor-authconnection.mjs";
import userInfo from "./basic-usage-proxy.mjs";

test("basic-usage-proxy calls userinfo through the proxy and never asks for the token", async () => {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    res.setHeader("Content-Type", "application/json");
    if (req.url === "/v1/connections/google-oauth/proxy/oauth2/v2/userinfo" && req.method === "GET") {
      res.end(JSON.stringify({ id: "1234", email: "demo@example.com" }));
      return;
    }
    res.statusCode = req.url.endsWith("/token") ? 403 : 404;
    res.end(JSON.stringify({ error: res.statusCode === 403 ? "forbidden" : "not_found", message: "no" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    install({ url: `http://127.0.0.1:${server.address().port}`, apiKey: "tk_proxy_only" });
    assert.deepEqual(await userInfo(), { id: "1234", email: "demo@example.com" });
    assert.deepEqual(seen, [{ url: "/v1/connections/google-oauth/proxy/oauth2/v2/userinfo", auth: "Bearer tk_proxy_only" }]);
  } finally {
    server.close();
  }
});
