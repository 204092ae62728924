package main

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestCreateCatalogFlags: --provider, --param and --client-secret-expires-at are checked
// against the catalog entry before anything is read or stored, with the message of the
// Terraform provider (connection.CheckProvider), and a good set is stored with the secret
// bound to the entry and its parameters.
func TestCreateCatalogFlags(t *testing.T) {
	st := cliVault(t)
	ctx := context.Background()
	create := func(stdin string, extra ...string) cliResult {
		args := append([]string{"create", "--name", "sf-oauth", "--provider-url", "https://login.salesforce.com",
			"--client-id", "3MVG9-key", "--client-secret-stdin"}, extra...)
		return cliRun(t, stdin, args...)
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--provider", "nosuch"}, `provider "nosuch" is not in the catalog: use one of`},
		{[]string{"--provider", "salesforce", "--param", "hostname=evil.example/x"},
			`salesforce: parameter hostname: does not match ^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.(salesforce|force)\.com$`},
		{[]string{"--param", "subdomain=acme"}, "salesforce: parameter subdomain: not declared by the entry; its parameters are hostname, instance_url"},
		{[]string{"--param", "hostname"}, `--param "hostname": give NAME=VALUE`},
		{[]string{"--param", "hostname=a.my.salesforce.com", "--param", "hostname=b.my.salesforce.com"}, "--param hostname is given twice"},
		{[]string{"--client-secret-expires-at", "2027-06-30"}, "--client-secret-expires-at: invalid client_secret_expires_at"},
		{[]string{"--provider", "zendesk"}, "zendesk: parameter subdomain: required (The Zendesk account's subdomain (acme for acme.zendesk.com)), a value matching ^[a-z0-9][a-z0-9-]{0,62}$"},
		{[]string{"--provider", "zendesk", "--param", "subdomain=evil.com/x"}, "zendesk: parameter subdomain: does not match ^[a-z0-9][a-z0-9-]{0,62}$"},
	} {
		r := create("never-read-secret\n", tc.flags...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.flags, r.err, tc.want)
		}
		if _, err := st.GetConnection(ctx, "sf-oauth"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%v: something was stored (%v)", tc.flags, err)
		}
	}

	r := create("sf-secret\n", "--provider", "salesforce", "--param", "hostname=acme.my.salesforce.com",
		"--client-secret-expires-at", "2020-01-01T00:00:00Z")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr.String(), `Warning: The client secret of connection "sf-oauth" expired on 2020-01-01T00:00:00Z`) {
		t.Errorf("no warning about the expired secret:\n%s", r.stderr)
	}
	c, err := st.GetConnection(ctx, "sf-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != "salesforce" || !maps.Equal(c.Params, map[string]string{"hostname": "acme.my.salesforce.com"}) ||
		!c.ClientSecretExpiresAt.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("stored %+v", c.Connection)
	}
	cs, err := st.GetClientSecret(ctx, "sf-oauth")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://login.salesforce.com:443", "param:hostname=acme.my.salesforce.com", "provider:salesforce"}; !authconn.SameOrigins(cs.EndpointOrigins, want) {
		t.Errorf("secret bound to %v, want %v", cs.EndpointOrigins, want)
	}
}
