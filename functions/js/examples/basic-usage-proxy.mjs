// basic-usage.mjs through tokend's proxy: the function never holds the token. tokend sends
// the request to the connection's API base URL (https://www.googleapis.com) plus the path,
// with the access token added, so an API key with only the proxy permission suffices
// (tokend keys create --connections google-oauth --allow proxy).
export default async () => {
  // Call the external API through the connection: no getConnectionToken, no Authorization header
  const response = await tailor.authconnection.fetch("google-oauth", "oauth2/v2/userinfo");

  if (!response.ok) {
    throw new Error(`Failed to fetch user info: ${response.statusText}`);
  }

  const userInfo = await response.json();
  return userInfo;
};
