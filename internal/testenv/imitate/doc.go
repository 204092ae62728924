// Package imitate runs imitations of real OAuth providers for tests. Each imitation is
// written from that provider's own documentation (its doc comment cites the pages), never
// from a catalog entry, so that a conformance test can find an entry wrong.
//
// An imitation is one TLS server that answers for all of the provider's hostnames, routing by
// host and path. Imitation.Client (or Imitation.Transport, Imitation.DialContext and
// Imitation.Pool) reaches it with the provider's real URLs, such as
// https://login.salesforce.com/services/oauth2/token, and refuses every other host.
//
// What a conformance test gets from an imitation:
//   - Imitation.Consent: the user consenting to the authorization URL a client built. The
//     imitation checks it as the provider documents (its parameter names, required ones,
//     the scope separator, PKCE, the registered redirect URI) and returns the query the
//     provider redirects back with (code, state and the provider's extras, such as QuickBooks'
//     realmId or Shopify's signed shop), or a *ConsentError: redirected with the provider's
//     error, or shown on the provider's own page.
//   - The token endpoint with the provider's checks: grant type, client authentication (Basic
//     or body, the other refused where documented), body encoding (form or JSON), required
//     extra parameters, single-use codes, the PKCE verifier; its answer in the provider's
//     shape (nested tokens, no expires_in, extra fields) and its errors in the provider's
//     shape (Slack's HTTP 200 {"ok": false}, Notion's error object, RFC 6749 ...); refresh with
//     the provider's rotation; revocation where documented; the post-connect metadata call
//     where the provider needs one; and one API endpoint that accepts only a correctly
//     presented token.
//   - Imitation.Want: what a correct client must use and end up with (client credentials,
//     redirect URI, scopes, client authentication, per-connection parameters, learnt
//     metadata, API base and a check URL, rotation, whether the old access token survives a
//     refresh, the lifetime to assume without expires_in).
//   - Imitation.Requests: every request received, for inspection.
//   - Fault switches: ExpireRefreshTokens, RevokeAuthorization, ExpireAccessTokens,
//     SetTenants (several tenants, or none), FailMetadata, Deny.
//
// Outside a test, Start runs an imitation by name until Close (a test constructor is Start's
// core plus t.Cleanup). Each hostname then also has a loopback listener of its own
// (Imitation.HostURL: https://127.0.0.1:PORT, answering as that host whatever the Host
// header), with a certificate valid for 127.0.0.1 (Imitation.CAPEM), so that programs which
// cannot dial through DialContext, such as tokend (SSL_CERT_FILE), node (NODE_EXTRA_CA_CERTS)
// or a browser, reach it through a connection's host overrides. The authorization endpoint
// answers a plain GET too: the imitation's user consents (Consent, with its checks) and is
// redirected to the registered redirect URI (Options.RedirectURI replaces it).
//
// Adding a provider is one file: a constructor (func Name(t testing.TB) *Imitation) whose doc
// comment cites the documentation pages it was written from, a *provider with its hosts,
// Want, authRules, tokenRules and tenants, its handlers (token, metadata, API, revocation)
// in the provider's own shapes, an entry in Providers and in Start's builders, and a script
// in imitate_test.go that drives it with plain net/http.
package imitate
