export default async () => {
  // Get the access token of the QuickBooks connection, with what tokend learnt when it was
  // authorized: the company (realmId) chosen at consent, and the API's base URL
  const tokens = await tailor.authconnection.getConnectionToken("quickbooks-oauth");
  const realmId = tokens.metadata.realmId;

  // Every QuickBooks Online API call names the company in its path
  const response = await fetch(`${tokens.api_base_url}/v3/company/${realmId}/companyinfo/${realmId}`, {
    headers: {
      Authorization: `Bearer ${tokens.access_token}`,
      Accept: "application/json",
    },
  });

  if (!response.ok) {
    throw new Error(`Failed to fetch company info: ${response.status} ${response.statusText}`);
  }

  const { CompanyInfo } = await response.json();
  return { realmId, companyName: CompanyInfo.CompanyName };
};
