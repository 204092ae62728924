// Test of the QuickBooks example's proxy variant: a local server plays tokend with a
// proxy-only key: GET /v1/connections/quickbooks-oauth (metadata, no token), 403 on the token
// endpoint, and a proxy that answers as the QuickBooks Online API would. Run with
// `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { install } from "../tailor-authconnection.mjs";
import companyInfo from "./quickbooks-companyinfo-proxy.mjs";

test("quickbooks-companyinfo-proxy takes the realmId from getConnection and calls companyinfo through the proxy", async () => {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    res.setHeader("Content-Type", "application/json");
    if (req.url === "/v1/connections/quickbooks-oauth") {
      res.end(JSON.stringify({ name: "quickbooks-oauth", status: "authorized", cached: true,
        metadata: { realmId: "9130357" }, api_base_url: "https://quickbooks.api.intuit.com" }));
      return;
    }
    if (req.url === "/v1/connections/quickbooks-oauth/proxy/v3/company/9130357/companyinfo/9130357" && req.headers.accept === "application/json") {
      res.end(JSON.stringify({ CompanyInfo: { Id: "9130357", CompanyName: "Imitated Company" } }));
      return;
    }
    res.statusCode = req.url.endsWith("/token") ? 403 : 404;
    res.end(JSON.stringify({ error: res.statusCode === 403 ? "forbidden" : "not_found", message: "no" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    install({ url: `http://127.0.0.1:${server.address().port}`, apiKey: "tk_proxy_only" });
    assert.deepEqual(await companyInfo(), { realmId: "9130357", companyName: "Imitated Company" });
    assert.deepEqual(seen.map((s) => s.url), ["/v1/connections/quickbooks-oauth", "/v1/connections/quickbooks-oauth/proxy/v3/company/9130357/companyinfo/9130357"]);
    assert.ok(seen.every((s) => s.auth === "Bearer tk_proxy_only"));
  } finally {
    server.close();
  }
});
