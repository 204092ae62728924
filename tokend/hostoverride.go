package main

import (
	"fmt"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// setHostOverrides sets the connection's host overrides from --host-override and checks them
// against its catalog entry (oauth.CheckHostOverrides), before the secret is read or anything
// is stored.
func (f *createFlags) setHostOverrides() error {
	hosts, err := parseHostOverrides(f.hosts)
	if err != nil {
		return err
	}
	f.c.HostOverrides = hosts
	if err := oauth.CheckHostOverrides(&f.c); err != nil {
		return fmt.Errorf("--host-override: %w", err)
	}
	return nil
}

// parseHostOverrides turns the values of --host-override (HOST=ORIGIN) into a connection's
// host overrides; nil for none. Each is checked by authconn.ValidateHostOverride when the
// connection is validated.
func parseHostOverrides(kvs []string) (map[string]string, error) {
	var out map[string]string
	for _, kv := range kvs {
		h, o, ok := strings.Cut(kv, "=")
		if !ok || h == "" || o == "" {
			return nil, fmt.Errorf("--host-override %q: give HOST=ORIGIN, e.g. --host-override api.xero.com=https://127.0.0.1:8443", authconn.Sanitize(kv, 200))
		}
		if _, dup := out[h]; dup {
			return nil, fmt.Errorf("--host-override %s is given twice", authconn.Sanitize(h, 80))
		}
		if out == nil {
			out = map[string]string{}
		}
		out[h] = o
	}
	return out, nil
}
