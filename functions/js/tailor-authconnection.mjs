// tailor-authconnection.mjs: installs globalThis.tailor.authconnection.getConnectionToken(name),
// backed by `tokend serve`, as the Function runtime of the hosted original does. The client
// itself is client.mjs, which installs nothing; import that one to keep the global untouched.
//
//   import "./tailor-authconnection.mjs";            // installs globalThis.tailor.authconnection
//   const t = await tailor.authconnection.getConnectionToken("google-oauth");
//   // t = { access_token, token_type, expires_at, metadata, api_base_url }
//   //     (expires_at: RFC 3339 string; metadata: {realmId, instance_url, ...} or {}; api_base_url or null)
//
//   // or, never holding the token: the request goes through tokend's proxy (a key with --allow proxy),
//   // and getConnection gives what the path needs (metadata, api_base_url; never a token)
//   const { metadata: { realmId } } = await tailor.authconnection.getConnection("quickbooks-oauth");
//   const res = await tailor.authconnection.fetch("quickbooks-oauth", `v3/company/${realmId}/companyinfo/${realmId}`);
//
// Configuration and errors: see client.mjs.
import { createAuthConnection } from "./client.mjs";

export { AuthConnectionError, createAuthConnection, NAME_PATTERN, validName } from "./client.mjs";

/** Installs globalThis.tailor.authconnection (keeping other members of globalThis.tailor). */
export function install(options = {}) {
  const api = createAuthConnection(options);
  const tailor = (globalThis.tailor ??= {});
  tailor.authconnection = api;
  return api;
}

export const authconnection = install();
export const getConnectionToken = (name) => globalThis.tailor.authconnection.getConnectionToken(name);
export const getConnection = (name) => globalThis.tailor.authconnection.getConnection(name);
export default authconnection;
