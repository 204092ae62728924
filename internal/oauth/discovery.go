package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
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
// issuer comparison). Endpoints must be https, or http on loopback hosts.
func ParseMetadata(data []byte, issuer string) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the discovery document is not valid JSON: %v", err)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return nil, errors.New("the discovery document has no authorization_endpoint or token_endpoint: set auth_url and token_url on the connection")
	}
	if issuer != "" && m.Issuer != "" && strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
		return nil, fmt.Errorf("the discovery document's issuer %q does not match %q (set issuer_url to the provider's exact issuer)", m.Issuer, issuer)
	}
	for _, f := range []struct{ name, v string }{
		{"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint},
		{"revocation_endpoint", m.RevocationEndpoint}, {"userinfo_endpoint", m.UserinfoEndpoint},
		{"device_authorization_endpoint", m.DeviceAuthorizationEndpoint},
	} {
		if f.v == "" {
			continue
		}
		if err := authconn.ValidateURL("discovery document "+f.name, f.v); err != nil {
			return nil, err
		}
	}
	return &m, nil
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

// Discover fetches and checks the metadata of issuer, trying each of DiscoveryURLs.
func (c *Client) Discover(ctx context.Context, issuer string) (*Metadata, error) {
	var errs []error
	for _, u := range DiscoveryURLs(issuer) {
		m, err := c.fetchMetadata(ctx, u, issuer)
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

func (c *Client) fetchMetadata(ctx context.Context, u, issuer string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, &Error{Op: "discovery", Kind: KindTransient, Err: scrubURLError(err)}
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
	m, err := ParseMetadata(body, issuer)
	if err != nil {
		return nil, &Error{Op: "discovery", Kind: KindRejected, Err: fmt.Errorf("%s: %w", u, err)}
	}
	return m, nil
}
