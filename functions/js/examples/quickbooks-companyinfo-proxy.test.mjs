// Test of the QuickBooks example's proxy variant: a fake tokend with a proxy-only key: GET
// /v1/connections/quickbooks-oauth (metadata, no token), 403 on the token endpoint, and a
// proxy that answers as the QuickBooks Online API would. Run with `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { install } from "../tailor-authconnection.mjs";
import { fakeTokend } from "./fake-tokend.mjs";
import companyInfo from "./quickbooks-companyinfo-proxy.mjs";

test("quickbooks-companyinfo-proxy takes the realmId from getConnection and calls companyinfo through the proxy", async () => {
  const companyinfo = "/v1/connections/quickbooks-oauth/proxy/v3/company/9130357/companyinfo/9130357";
  const tokend = await fakeTokend({
    "GET /v1/connections/quickbooks-oauth": () => ({ name: "quickbooks-oauth", status: "authorized", cached: true,
      metadata: { realmId: "9130357" }, api_base_url: "https://quickbooks.api.intuit.com" }),
    [`GET ${companyinfo}`]: (req) => req.headers.accept === "application/json"
      ? { CompanyInfo: { Id: "9130357", CompanyName: "Imitated Company" } } : undefined,
  });
  try {
    install({ url: tokend.url, apiKey: "tk_proxy_only" });
    assert.deepEqual(await companyInfo(), { realmId: "9130357", companyName: "Imitated Company" });
    assert.deepEqual(tokend.seen.map((s) => s.url), ["/v1/connections/quickbooks-oauth", companyinfo]);
    assert.ok(tokend.seen.every((s) => s.auth === "Bearer tk_proxy_only"));
  } finally {
    await tokend.close();
  }
});
