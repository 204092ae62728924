// Test of the QuickBooks example: a local server plays tokend (the token answer with
// metadata and api_base_url) and the QuickBooks Online API. Run with `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { install } from "../tailor-authconnection.mjs";
import companyInfo from "./quickbooks-companyinfo.mjs";

test("quickbooks-companyinfo calls companyinfo with only the token answer's realmId and api_base_url", async () => {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    const base = `http://127.0.0.1:${server.address().port}`;
    if (req.url === "/v1/connections/quickbooks-oauth/token") {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ access_token: "qb-at-1", token_type: "bearer", expires_at: "2099-01-01T00:00:00Z",
        metadata: { realmId: "9130357" }, api_base_url: `${base}/qbo` }));
      return;
    }
    if (req.url === "/qbo/v3/company/9130357/companyinfo/9130357" && req.headers.authorization === "Bearer qb-at-1") {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ CompanyInfo: { Id: "9130357", CompanyName: "Imitated Company" } }));
      return;
    }
    res.statusCode = 404;
    res.end("{}");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    install({ url: `http://127.0.0.1:${server.address().port}`, apiKey: "tk_test" });
    assert.deepEqual(await companyInfo(), { realmId: "9130357", companyName: "Imitated Company" });
    assert.equal(seen.length, 2);
    assert.equal(seen[0].auth, "Bearer tk_test");
  } finally {
    server.close();
  }
});
