package main

import (
	"strings"
	"testing"
)

func TestDeleteMissing(t *testing.T) {
	cliVault(t)
	r := cliRun(t, "", "delete", "missing")
	if r.err == nil || !strings.Contains(r.err.Error(), `connection "missing" does not exist`) {
		t.Errorf("delete missing: %v", r.err)
	}
	r = cliRun(t, "s", "create", "--name", "gone", "--provider-url", "https://login.microsoftonline.com/common", "--client-id", "cid", "--client-secret-stdin")
	if r.err != nil {
		t.Fatal(r.err)
	}
	r = cliRun(t, "", "delete", "gone")
	if r.err != nil || !strings.Contains(r.stderr.String(), `Deleted connection "gone"`) {
		t.Errorf("delete: %v\n%s", r.err, r.stderr)
	}
	r = cliRun(t, "", "list", "--json")
	if strings.TrimSpace(r.stdout.String()) != "[]" {
		t.Errorf("list after delete: %s", r.stdout)
	}
}
