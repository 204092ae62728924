package apikey

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Permission is what an API key may do with a connection its patterns match.
type Permission string

const (
	// PermToken lets the key read the connection's access token
	// (GET /v1/connections/{name}/token): the behaviour of every key created before
	// permissions existed.
	PermToken Permission = "token"
	// PermProxy lets the key send requests through tokend's proxy
	// (/v1/connections/{name}/proxy/...), which adds the token upstream: the key never
	// sees it.
	PermProxy Permission = "proxy"
)

// Permissions lists every permission, in the order they are shown.
var Permissions = []Permission{PermToken, PermProxy}

// Grant gives the permissions Allow on every connection whose name matches Pattern (a name
// or a path.Match glob, see ValidatePattern).
type Grant struct {
	Pattern string
	Allow   []Permission
}

// String shows the grant as --grant takes it: pattern=perm,perm.
func (g Grant) String() string {
	s := make([]string, len(g.Allow))
	for i, p := range g.Allow {
		s[i] = string(p)
	}
	return g.Pattern + "=" + strings.Join(s, ",")
}

// Permits reports whether a grant whose pattern matches the connection name allows perm.
// Grants add up: a key with google-*=token and google-drive=proxy may do both on
// google-drive.
func Permits(grants []Grant, name string, perm Permission) bool {
	for i := range grants {
		if slices.Contains(grants[i].Allow, perm) && matches(grants[i].Pattern, name) {
			return true
		}
	}
	return false
}

// Matches reports whether any grant's pattern matches the connection name, whatever it
// allows (the connections a key may see listed).
func Matches(grants []Grant, name string) bool {
	for i := range grants {
		if matches(grants[i].Pattern, name) {
			return true
		}
	}
	return false
}

func matches(pattern, name string) bool {
	if pattern == name {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// ParsePermission checks one permission name.
func ParsePermission(s string) (Permission, error) {
	p := Permission(strings.TrimSpace(s))
	if !slices.Contains(Permissions, p) {
		return "", fmt.Errorf("unknown permission %q: give token, proxy or token,proxy", s)
	}
	return p, nil
}

// ParseAllow splits a comma-separated list of permissions (e.g. "token,proxy"), checks
// each and returns them without duplicates in the order of Permissions.
func ParseAllow(list string) ([]Permission, error) {
	var got []Permission
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := ParsePermission(s)
		if err != nil {
			return nil, err
		}
		got = append(got, p)
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("give at least one permission: token, proxy or token,proxy")
	}
	out := make([]Permission, 0, len(Permissions))
	for _, p := range Permissions {
		if slices.Contains(got, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ParseGrant parses one --grant value, PATTERN=PERMS (e.g. "quickbooks-*=proxy" or
// "google-drive=token,proxy").
func ParseGrant(s string) (Grant, error) {
	pattern, allow, ok := strings.Cut(s, "=")
	if !ok {
		return Grant{}, fmt.Errorf("invalid grant %q: want PATTERN=PERMISSIONS, e.g. 'quickbooks-*=proxy'", s)
	}
	pattern = strings.TrimSpace(pattern)
	if err := ValidatePattern(pattern); err != nil {
		return Grant{}, err
	}
	perms, err := ParseAllow(allow)
	if err != nil {
		return Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	return Grant{Pattern: pattern, Allow: perms}, nil
}

// GrantAll gives the same permissions on each of patterns (--connections with --allow).
func GrantAll(patterns []string, allow []Permission) []Grant {
	out := make([]Grant, len(patterns))
	for i, p := range patterns {
		out[i] = Grant{Pattern: p, Allow: slices.Clone(allow)}
	}
	return out
}
