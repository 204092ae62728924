package oauth

import (
	"context"
	"fmt"
	"slices"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

// NeedsDiscovery reports whether conn's endpoints come from a discovery document: no preset
// matches it, and it does not set both auth_url and token_url.
func NeedsDiscovery(conn *authconn.Connection) bool {
	preset, _ := PresetFor(conn.ProviderURL, conn.IssuerURL)
	return preset == Generic && (conn.AuthURL == "" || conn.TokenURL == "")
}

// PinError is a connection whose discovery document could not be read or used when it was
// created or updated.
type PinError struct {
	Name string
	Err  error
}

func (e *PinError) Error() string {
	return fmt.Sprintf("connection %q: its endpoints could not be discovered, and they are fixed (pinned) when the connection is created or updated: %v. "+
		"Check issuer_url and provider_url and that the provider is reachable from here, then retry; or set auth_url and token_url (and revocation_url) on the connection",
		e.Name, e.Err)
}

func (e *PinError) Unwrap() error { return e.Err }

// Pin discovers the endpoints of conn, a connection being created or updated, and stores them
// in conn.Discovered; it clears conn.Discovered when conn needs no discovery. Resolve then
// uses the pinned endpoints without fetching the document again, so a provider that changes
// its document later cannot move the connection's secrets elsewhere.
func (c *Client) Pin(ctx context.Context, conn *authconn.Connection) error {
	if !NeedsDiscovery(conn) {
		conn.Discovered = nil
		return nil
	}
	m, err := c.discoverAny(ctx, overridden(conn), conn.IssuerURL, conn.ProviderURL)
	if err != nil {
		return &PinError{Name: conn.Name, Err: err}
	}
	conn.Discovered = &authconn.Discovered{
		Issuer: m.Issuer, AuthorizationEndpoint: m.AuthorizationEndpoint, TokenEndpoint: m.TokenEndpoint,
		RevocationEndpoint: m.RevocationEndpoint, UserinfoEndpoint: m.UserinfoEndpoint,
		DeviceAuthorizationEndpoint: m.DeviceAuthorizationEndpoint, ScopesSupported: m.ScopesSupported,
		TokenEndpointAuthMethods: m.TokenEndpointAuthMethodsSupported, CodeChallengeMethods: m.CodeChallengeMethodsSupported,
		IssParameterSupported: m.AuthorizationResponseIssParameterSupported, At: c.now().UTC(),
	}
	return nil
}

// checkPin applies the rule of discovered endpoints (CheckDiscoveredEndpoint) to the pinned
// ones too, against issuer_url or provider_url (whichever was discovered from): the config
// record is writable by others than tokend, and a pin must not be a way around the rule.
func checkPin(conn *authconn.Connection) error {
	d, skip := conn.Discovered, overridden(conn)
	for _, f := range []struct{ name, v string }{
		{"authorization_endpoint", d.AuthorizationEndpoint}, {"token_endpoint", d.TokenEndpoint},
		{"revocation_endpoint", d.RevocationEndpoint}, {"userinfo_endpoint", d.UserinfoEndpoint},
		{"device_authorization_endpoint", d.DeviceAuthorizationEndpoint},
	} {
		if f.v == "" || skip[f.name] {
			continue
		}
		var err error
		for _, issuer := range dedupe(conn.IssuerURL, conn.ProviderURL) {
			if err = CheckDiscoveredEndpoint(issuer, f.name, f.v); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("the pinned %w (update the connection to discover its endpoints again)", err)
		}
	}
	return nil
}

// metadataOfPin is the Metadata a pinned discovery result stands for.
func metadataOfPin(d *authconn.Discovered) *Metadata {
	return &Metadata{Issuer: d.Issuer, AuthorizationEndpoint: d.AuthorizationEndpoint, TokenEndpoint: d.TokenEndpoint,
		RevocationEndpoint: d.RevocationEndpoint, UserinfoEndpoint: d.UserinfoEndpoint,
		DeviceAuthorizationEndpoint: d.DeviceAuthorizationEndpoint, ScopesSupported: d.ScopesSupported,
		TokenEndpointAuthMethodsSupported: d.TokenEndpointAuthMethods, CodeChallengeMethodsSupported: d.CodeChallengeMethods,
		AuthorizationResponseIssParameterSupported: d.IssParameterSupported}
}

// PinChanges fetches the discovery document of conn again and describes how its endpoints
// differ from the pinned ones ("token_endpoint is now https://... (pinned: https://...)");
// nil when nothing is pinned or nothing changed. It is for reporting only: Resolve keeps
// using the pinned endpoints until the connection is updated. A document that can no longer
// be read or used is an error.
func (c *Client) PinChanges(ctx context.Context, conn *authconn.Connection) ([]string, error) {
	pin := conn.Discovered
	if pin == nil || !NeedsDiscovery(conn) {
		return nil, nil
	}
	m, err := c.discoverAny(ctx, overridden(conn), conn.IssuerURL, conn.ProviderURL)
	if err != nil {
		return nil, err
	}
	skip := overridden(conn)
	var out []string
	for _, f := range []struct{ name, was, now string }{
		{"issuer", pin.Issuer, m.Issuer},
		{"authorization_endpoint", pin.AuthorizationEndpoint, m.AuthorizationEndpoint},
		{"token_endpoint", pin.TokenEndpoint, m.TokenEndpoint},
		{"revocation_endpoint", pin.RevocationEndpoint, m.RevocationEndpoint},
		{"userinfo_endpoint", pin.UserinfoEndpoint, m.UserinfoEndpoint},
		{"device_authorization_endpoint", pin.DeviceAuthorizationEndpoint, m.DeviceAuthorizationEndpoint},
	} {
		if f.was != f.now && !skip[f.name] {
			out = append(out, fmt.Sprintf("%s is now %q (pinned: %q)", f.name, authconn.Sanitize(f.now, 200), f.was))
		}
	}
	if !slices.Equal(pin.TokenEndpointAuthMethods, m.TokenEndpointAuthMethodsSupported) {
		out = append(out, "token_endpoint_auth_methods_supported changed")
	}
	return out, nil
}
