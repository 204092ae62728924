package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
)

// Metadata is the subset of an OpenID Provider Configuration (OIDC Discovery 1.0) or OAuth
// 2.0 Authorization Server Metadata (RFC 8414) document that tailor uses.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// ParseMetadata decodes and checks a discovery document fetched for issuer (empty: skip the
// issuer comparison). A remote document may name endpoints only under the rule of
// CheckDiscoveredEndpoint.
func ParseMetadata(data []byte, issuer string) (*Metadata, error) {
	return parseMetadata(data, issuer, nil)
}

// parseMetadata is ParseMetadata; the endpoint fields in configured (metadata names such as
// "token_endpoint") are set on the connection, so the document's value is neither used nor
// checked.
func parseMetadata(data []byte, issuer string, configured map[string]bool) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the discovery document is not valid JSON: %v", err)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return nil, errors.New("the discovery document has no authorization_endpoint or token_endpoint: set auth_url and token_url on the connection")
	}
	if issuer != "" && m.Issuer != "" && strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
		return nil, fmt.Errorf("the discovery document's issuer %q does not match %q (set issuer_url to the provider's exact issuer)", authconn.Sanitize(m.Issuer, 200), issuer)
	}
	for _, f := range []struct{ name, v string }{
		{"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint},
		{"revocation_endpoint", m.RevocationEndpoint}, {"userinfo_endpoint", m.UserinfoEndpoint},
		{"device_authorization_endpoint", m.DeviceAuthorizationEndpoint},
	} {
		if f.v == "" || configured[f.name] {
			continue
		}
		if err := CheckDiscoveredEndpoint(issuer, f.name, f.v); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// overrideOf names the connection field that replaces a discovered endpoint.
var overrideOf = map[string]string{
	"authorization_endpoint": "auth_url", "token_endpoint": "token_url", "revocation_endpoint": "revocation_url",
}

// overridden returns the metadata fields that conn sets itself.
func overridden(conn *authconn.Connection) map[string]bool {
	return map[string]bool{"authorization_endpoint": conn.AuthURL != "", "token_endpoint": conn.TokenURL != "",
		"revocation_endpoint": conn.RevocationURL != ""}
}

// CheckDiscoveredEndpoint reports whether raw, the endpoint field of a discovery document
// fetched for issuer, may be used: an https URL on the issuer's host or its registrable
// domain (publicsuffix eTLD+1: login.example.com for an issuer on id.example.com). An issuer
// on loopback (one an operator typed) may name endpoints on its own origin only. With an
// empty issuer only the scheme rule applies. Anything else must be set on the connection.
func CheckDiscoveredEndpoint(issuer, field, raw string) error {
	name := "the discovery document's " + field
	if err := authconn.ValidateURL(name, raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	fix := "set it on the connection if it is right"
	if o := overrideOf[field]; o != "" {
		fix = "set " + o + " on the connection if it is right"
	}
	iu, err := url.Parse(issuer)
	if issuer != "" && err == nil && iu.Host != "" && authconn.IsLoopbackHost(iu.Hostname()) {
		if !authconn.SameOrigin(raw, issuer) {
			return fmt.Errorf("%s %q is not on the origin of the loopback issuer %s: a loopback issuer's endpoints must be on its own origin (%s)", name, authconn.Sanitize(raw, 200), issuer, fix)
		}
		return nil
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%s %q is not https: endpoints named by a remote discovery document must use https (%s)", name, authconn.Sanitize(raw, 200), fix)
	}
	if issuer == "" || err != nil || iu.Host == "" {
		return nil
	}
	host, ihost := strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), strings.ToLower(strings.TrimSuffix(iu.Hostname(), "."))
	if host == ihost || (site(host) != "" && site(host) == site(ihost)) {
		return nil
	}
	return fmt.Errorf("%s %q is on host %s, neither the issuer's host %s nor its registrable domain: endpoints named by a remote discovery document must be there (%s)",
		name, authconn.Sanitize(raw, 200), authconn.Sanitize(host, 100), ihost, fix)
}

// site is the registrable domain (eTLD+1) of host; empty for an IP address or a public suffix.
func site(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	s, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return ""
	}
	return s
}

// DiscoveryURLs returns the metadata URLs tried for issuer, in order: OpenID Connect
// Discovery (issuer + /.well-known/openid-configuration) and RFC 8414
// (/.well-known/oauth-authorization-server inserted before the issuer's path).
func DiscoveryURLs(issuer string) []string {
	u, err := url.Parse(strings.TrimSuffix(issuer, "/"))
	if err != nil || u.Host == "" {
		return nil
	}
	base := u.Scheme + "://" + u.Host
	return []string{
		base + u.Path + "/.well-known/openid-configuration",
		base + "/.well-known/oauth-authorization-server" + u.Path,
	}
}

// Discover fetches and checks the metadata of issuer, trying each of DiscoveryURLs. issuer is
// one an operator typed: its origin may be on an internal address (egress.AllowOrigins).
func (c *Client) Discover(ctx context.Context, issuer string) (*Metadata, error) {
	return c.discover(ctx, issuer, nil)
}

func (c *Client) discover(ctx context.Context, issuer string, configured map[string]bool) (*Metadata, error) {
	ctx = egress.AllowOrigins(ctx, issuer)
	var errs []error
	for _, u := range DiscoveryURLs(issuer) {
		m, err := c.fetchMetadata(ctx, u, issuer, configured)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, &Error{Op: "discovery", Kind: KindRejected, Err: fmt.Errorf("%q is not an absolute URL", issuer)}
	}
	return nil, &Error{Op: "discovery", Kind: discoveryKind(errs), Err: fmt.Errorf("no usable metadata for %s: %w (set issuer_url to the provider's issuer, or set auth_url and token_url)", issuer, errors.Join(errs...))}
}

func discoveryKind(errs []error) ErrorKind {
	for _, err := range errs {
		if !IsTransient(err) {
			return KindRejected
		}
	}
	return KindTransient
}

func (c *Client) fetchMetadata(ctx context.Context, u, issuer string, configured map[string]bool) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, transportError("discovery", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Op: "discovery", Kind: KindTransient, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Op: "discovery", Kind: kindOf(resp.StatusCode, ""), StatusCode: resp.StatusCode, Err: fmt.Errorf("GET %s", u)}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && !strings.Contains(mt, "json") {
		return nil, &Error{Op: "discovery", Kind: KindRejected, Err: fmt.Errorf("GET %s returned %s, not JSON", u, mt)}
	}
	m, err := parseMetadata(body, issuer, configured)
	if err != nil {
		return nil, &Error{Op: "discovery", Kind: KindRejected, Err: fmt.Errorf("%s: %w", u, err)}
	}
	return m, nil
}
