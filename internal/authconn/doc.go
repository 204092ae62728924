// Package authconn is tailor's domain model: an OAuth2 connection, its token set and its
// status, with the rules that decide what a valid connection is. It imports only the
// standard library and knows nothing of Vault or of the OAuth2 protocol; internal/store
// persists these types and internal/oauth speaks to providers.
//
// Every validation error names what is wrong and how to fix it, and never contains a secret.
package authconn
