// quickbooks-companyinfo.mjs through tokend's proxy: the function never holds the token, so
// an API key with only the proxy permission suffices (--allow proxy). The company's realmId
// comes from getConnection, the connection's non-secret view; tokend sends the call to the
// API base URL of the QuickBooks catalog entry with the access token added.
export default async () => {
  // What tokend learnt when the connection was authorized: the company (realmId) chosen at consent
  const { metadata } = await tailor.authconnection.getConnection("quickbooks-oauth");
  const realmId = metadata.realmId;

  // Every QuickBooks Online API call names the company in its path (relative to the API base URL)
  const response = await tailor.authconnection.fetch("quickbooks-oauth", `v3/company/${realmId}/companyinfo/${realmId}`, {
    headers: { Accept: "application/json" },
  });

  if (!response.ok) {
    throw new Error(`Failed to fetch company info: ${response.status} ${response.statusText}`);
  }

  const { CompanyInfo } = await response.json();
  return { realmId, companyName: CompanyInfo.CompanyName };
};
