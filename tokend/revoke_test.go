package main

import (
	"strings"
	"testing"
)

func TestRevokeAndDeleteErrors(t *testing.T) {
	cliVault(t)
	r := cliRun(t, "", "revoke", "missing")
	if r.err == nil || !strings.Contains(r.err.Error(), `connection "missing" does not exist`) || !strings.Contains(r.err.Error(), "tokend list") {
		t.Errorf("revoke missing: %v", r.err)
	}
	r = cliRun(t, "", "revoke")
	if r.err == nil || !strings.Contains(r.err.Error(), "exactly one argument") {
		t.Errorf("revoke without a name: %v", r.err)
	}
	r = cliRun(t, "", "revoke", "Bad_Name")
	if r.err == nil || !strings.Contains(r.err.Error(), "invalid connection name") {
		t.Errorf("revoke bad name: %v", r.err)
	}
}
