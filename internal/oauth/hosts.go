package oauth

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// HostOverrideError is a connection's host override that its provider cannot take: the
// connection has no catalog entry, the host is not one the entry's URLs name, or the
// override is not a hostname and an origin (Err).
type HostOverrideError struct {
	Host, Entry string
	// Hosts are the entry's hosts that may be overridden.
	Hosts []string
	// Err, when set, is why the override itself is invalid (not a hostname, not an origin).
	Err error
}

// Unwrap returns Err.
func (e *HostOverrideError) Unwrap() error { return e.Err }

func (e *HostOverrideError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	if len(e.Hosts) == 0 {
		return fmt.Sprintf("host_overrides: %s is not a host of a catalog entry (the connection resolves to %q, which names no host): set provider to the entry whose hosts it overrides", e.Host, e.Entry)
	}
	return fmt.Sprintf("host_overrides: %s is not a host of the catalog entry %q; its hosts are %s", e.Host, e.Entry, strings.Join(e.Hosts, ", "))
}

// CheckHostOverrides reports, without any request, a host override of conn that Resolve
// would refuse: an origin that is not one, or a host its catalog entry does not name
// (*HostOverrideError). For tokend create, before anything is stored.
func CheckHostOverrides(conn *authconn.Connection) error {
	if len(conn.HostOverrides) == 0 {
		return nil
	}
	preset, _, err := presetOf(conn)
	if err != nil {
		return err
	}
	return preset.checkHostOverrides(conn.HostOverrides)
}

// entryURL fills the entry's template t with vals and sends the result to the connection's
// override origin for its host (authconn.Connection.HostOverrides): the one way a URL of the
// entry becomes a URL tailor calls or hands out (endpoints, the metadata call, the API base).
func (p *Provider) entryURL(t catalog.Template, vals map[string]string) (string, error) {
	s, err := p.preset().Fill(t, vals)
	if err != nil || s == "" || len(p.hostOverrides) == 0 {
		return s, err
	}
	return rehost(s, p.hostOverrides), nil
}

// entryEndpoints returns the entry's endpoints with vals in their templates, each sent to the
// connection's override origin for its host as entryURL does; the issuer is a name, not a
// place, and stays.
func (p *Provider) entryEndpoints(vals map[string]string) (Endpoints, error) {
	e, err := p.preset().fill(vals)
	if err != nil || len(p.hostOverrides) == 0 {
		return e, err
	}
	for _, u := range []*string{&e.AuthURL, &e.TokenURL, &e.RefreshURL, &e.RevocationURL, &e.UserinfoURL, &e.DeviceAuthURL} {
		if *u != "" {
			*u = rehost(*u, p.hostOverrides)
		}
	}
	return e, nil
}

// rehost returns raw with its scheme and host (and port) those of the override origin for
// its host; raw itself when its host has none. Path, query and fragment are kept.
func rehost(raw string, overrides map[string]string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Port() != "" {
		return raw
	}
	origin, ok := overrides[strings.ToLower(u.Hostname())]
	if !ok {
		return raw
	}
	o, err := url.Parse(origin)
	if err != nil {
		return raw
	}
	u.Scheme, u.Host = o.Scheme, o.Host
	return u.String()
}

// checkHostOverrides reports an override that is not valid (authconn.ValidateHostOverride:
// the record may not have been written by tailor) or whose host the entry's URLs do not name.
func (p *Preset) checkHostOverrides(overrides map[string]string) error {
	hosts := p.entryHosts()
	for _, h := range slices.Sorted(maps.Keys(overrides)) {
		if err := authconn.ValidateHostOverride(h, overrides[h]); err != nil {
			return &HostOverrideError{Host: h, Entry: p.Name, Err: err}
		}
		if !slices.Contains(hosts, h) {
			return &HostOverrideError{Host: h, Entry: p.Name, Hosts: hosts}
		}
	}
	return nil
}

// entryHosts returns the sorted hosts that the entry's URL templates name literally (not
// filled from a parameter): its endpoints, its metadata call and its API base URL.
func (p *Preset) entryHosts() []string {
	u := p.URLs
	ts := []catalog.Template{u.Authorize, u.Token, u.Refresh, u.Revocation, u.Userinfo, u.DeviceAuthorization, p.API.BaseURL}
	if p.Metadata.Call != nil {
		ts = append(ts, p.Metadata.Call.URL)
	}
	var out []string
	for _, t := range ts {
		for _, alt := range t {
			rest, ok := strings.CutPrefix(alt, "https://")
			host, _, _ := strings.Cut(rest, "/")
			if ok && host != "" && !strings.ContainsAny(host, "{:") && !slices.Contains(out, host) {
				out = append(out, host)
			}
		}
	}
	slices.Sort(out)
	return out
}

// overrideOrigins returns the override origins, sorted: typed by an operator.
func overrideOrigins(overrides map[string]string) []string {
	var out []string
	for _, h := range slices.Sorted(maps.Keys(overrides)) {
		out = append(out, overrides[h])
	}
	return out
}
