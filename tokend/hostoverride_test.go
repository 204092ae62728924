package main

import (
	"context"
	"strings"
	"testing"
)

func TestParseHostOverrides(t *testing.T) {
	got, err := parseHostOverrides([]string{"api.xero.com=https://127.0.0.1:8443", "login.xero.com=https://127.0.0.1:9443"})
	if err != nil || len(got) != 2 || got["api.xero.com"] != "https://127.0.0.1:8443" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := parseHostOverrides(nil); got != nil || err != nil {
		t.Errorf("none: %v %v", got, err)
	}
	for _, bad := range [][]string{{"api.xero.com"}, {"=https://x"}, {"api.xero.com="}, {"a.b=https://x", "a.b=https://y"}} {
		if _, err := parseHostOverrides(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCreateWithHostOverrides: the overrides are stored with the connection, and a value
// that is not an origin is refused before anything is stored.
func TestCreateWithHostOverrides(t *testing.T) {
	st := cliVault(t)
	r := cliRun(t, "qb-secret\n", "create", "--name", "qb", "--provider-url", "https://appcenter.intuit.com/connect/oauth2",
		"--client-id", "cid", "--client-secret-stdin", "--host-override", "oauth.platform.intuit.com=https://127.0.0.1:8443",
		"--host-override", "appcenter.intuit.com=https://127.0.0.1:9443")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr.String(), "authorization endpoint https://127.0.0.1:9443/connect/oauth2") {
		t.Errorf("create output:\n%s", r.stderr.String())
	}
	c, err := st.GetConnection(context.Background(), "qb")
	if err != nil || len(c.HostOverrides) != 2 || c.HostOverrides["oauth.platform.intuit.com"] != "https://127.0.0.1:8443" {
		t.Fatalf("stored %+v %v", c, err)
	}
	r = cliRun(t, "s\n", "create", "--name", "qb2", "--provider-url", "https://appcenter.intuit.com/connect/oauth2",
		"--client-id", "cid", "--client-secret-stdin", "--host-override", "oauth.platform.intuit.com=https://evil.example/steal")
	if r.err == nil || !strings.Contains(r.err.Error(), "host_overrides[oauth.platform.intuit.com]") {
		t.Fatalf("a path in the origin: %v", r.err)
	}
	r = cliRun(t, "s\n", "create", "--name", "qb3", "--provider-url", "https://appcenter.intuit.com/connect/oauth2",
		"--client-id", "cid", "--client-secret-stdin", "--host-override", "evil.example=https://127.0.0.1:8443")
	if r.err == nil || !strings.Contains(r.err.Error(), "evil.example is not a host of the catalog entry \"quickbooks\"") {
		t.Fatalf("a host the entry does not name: %v", r.err)
	}
	for _, name := range []string{"qb2", "qb3"} {
		if _, err := st.GetConnection(context.Background(), name); err == nil {
			t.Errorf("the refused connection %s was stored", name)
		}
	}
}
