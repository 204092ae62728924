// Test of the QuickBooks example: a fake tokend (the token answer with metadata and
// api_base_url) that also plays the QuickBooks Online API. Run with `node --test functions/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { install } from "../tailor-authconnection.mjs";
import { fakeTokend } from "./fake-tokend.mjs";
import companyInfo from "./quickbooks-companyinfo.mjs";

test("quickbooks-companyinfo calls companyinfo with only the token answer's realmId and api_base_url", async () => {
  const tokend = await fakeTokend({
    "GET /v1/connections/quickbooks-oauth/token": (req, base) => ({ access_token: "qb-at-1", token_type: "bearer",
      expires_at: "2099-01-01T00:00:00Z", metadata: { realmId: "9130357" }, api_base_url: `${base}/qbo` }),
    "GET /qbo/v3/company/9130357/companyinfo/9130357": (req) => req.headers.authorization === "Bearer qb-at-1"
      ? { CompanyInfo: { Id: "9130357", CompanyName: "Imitated Company" } } : undefined,
  });
  try {
    install({ url: tokend.url, apiKey: "tk_test" });
    assert.deepEqual(await companyInfo(), { realmId: "9130357", companyName: "Imitated Company" });
    assert.deepEqual(tokend.seen.map((s) => [s.url, s.auth]), [["/v1/connections/quickbooks-oauth/token", "Bearer tk_test"],
      ["/qbo/v3/company/9130357/companyinfo/9130357", "Bearer qb-at-1"]]);
  } finally {
    await tokend.close();
  }
});
