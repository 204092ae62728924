package main

import (
	"fmt"
	"strings"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
)

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
