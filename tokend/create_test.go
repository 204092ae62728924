package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/connection"
)

func TestHelpEverywhere(t *testing.T) {
	for _, c := range []string{"authorize", "create", "list", "revoke", "delete"} {
		r := cliRun(t, "", c, "--help")
		out := r.stdout.String()
		if r.err != nil || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "tokend "+c) {
			t.Errorf("%s --help: %v\n%s", c, r.err, out)
		}
	}
	r := cliRun(t, "", "authorize", "--help")
	for _, want := range []string{"--no-browser", "--port", "--scopes", "--timeout", "http://localhost:8080/callback"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("authorize --help lacks %s", want)
		}
	}
	r = cliRun(t, "", "create", "--help")
	if strings.Contains(r.stdout.String(), "--client-secret string") {
		t.Error("create --help offers --client-secret")
	}
}

func TestCreateRefusesSecretArgument(t *testing.T) {
	const secret = "argv-secret-9f8e7d"
	r := cliRun(t, "", "create", "--name", "x", "--provider-url", "https://accounts.google.com", "--client-id", "id", "--client-secret", secret)
	if r.err == nil || !strings.Contains(r.err.Error(), "--client-secret-file") || !strings.Contains(r.err.Error(), "--client-secret-stdin") {
		t.Fatalf("--client-secret accepted or unexplained: %v", r.err)
	}
	if strings.Contains(r.err.Error()+r.stdout.String()+r.stderr.String(), secret) {
		t.Error("the refused secret was echoed")
	}
	r = cliRun(t, "", "create", "--name", "x")
	if r.err == nil || !strings.Contains(r.err.Error(), "--provider-url") || !strings.Contains(r.err.Error(), "--client-secret-file or --client-secret-stdin") {
		t.Errorf("missing flags: %v", r.err)
	}
}

func TestCreateAndList(t *testing.T) {
	st := cliVault(t)
	ctx := context.Background()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("file-secret-value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, "", "create", "--name", "google-oauth", "--type", "TYPE_OAUTH2", "--provider-url", "https://accounts.google.com",
		"--issuer-url", "https://accounts.google.com", "--client-id", "123.apps.googleusercontent.com", "--client-secret-file", secretFile,
		"--scopes", "openid,https://www.googleapis.com/auth/admin.directory.user.readonly")
	if r.err != nil {
		t.Fatal(r.err)
	}
	errOut := r.stderr.String()
	if !strings.Contains(errOut, "can be read by other users") || !strings.Contains(errOut, "http://localhost:8080/callback") ||
		!strings.Contains(errOut, "tokend authorize google-oauth") || strings.Contains(errOut, "file-secret-value") {
		t.Errorf("create output:\n%s", errOut)
	}
	c, err := st.GetConnection(ctx, "google-oauth")
	if err != nil || len(c.Scopes) != 2 || c.ClientID != "123.apps.googleusercontent.com" {
		t.Fatalf("stored %+v %v", c, err)
	}
	if cs, err := st.GetClientSecret(ctx, "google-oauth"); err != nil || cs.Value != "file-secret-value" {
		t.Errorf("stored secret wrong (%v)", err)
	}

	r = cliRun(t, "stdin-secret-value\n", "create", "--name", "custom-idp", "--provider-url", "https://idp.example.com",
		"--auth-url", "https://idp.example.com/authorize", "--token-url", "https://idp.example.com/token", "--client-id", "cid", "--client-secret-stdin")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if cs, err := st.GetClientSecret(ctx, "custom-idp"); err != nil || cs.Value != "stdin-secret-value" {
		t.Errorf("stdin secret wrong (%v)", err)
	}

	r = cliRun(t, "x", "create", "--name", "custom-idp", "--provider-url", "https://idp.example.com", "--client-id", "cid", "--client-secret-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
		t.Errorf("duplicate create: %v", r.err)
	}
	r = cliRun(t, "\n", "create", "--name", "empty", "--provider-url", "https://idp.example.com", "--client-id", "cid", "--client-secret-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "empty") {
		t.Errorf("empty secret: %v", r.err)
	}
	r = cliRun(t, "s", "create", "--name", "plain-http", "--provider-url", "http://idp.example.com", "--client-id", "cid", "--client-secret-stdin")
	if r.err == nil || !strings.Contains(r.err.Error(), "use https") {
		t.Errorf("http provider: %v", r.err)
	}

	r = cliRun(t, "", "list")
	if r.err != nil {
		t.Fatal(r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "LAST ERROR") ||
		!strings.Contains(lines[1], "custom-idp") || !strings.Contains(lines[1], "custom") ||
		!strings.Contains(lines[2], "google-oauth") || !strings.Contains(lines[2], "google") || !strings.Contains(lines[2], " no ") {
		t.Errorf("list table:\n%s", r.stdout)
	}
	r = cliRun(t, "", "list", "--json")
	var entries []connection.Summary
	if err := json.Unmarshal([]byte(r.stdout.String()), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if e := entries[1]; e.Name != "google-oauth" || e.Authorized || e.Status != "not_authorized" || e.ExpiresAt != nil || e.Type != "TYPE_OAUTH2" {
		t.Errorf("entry %+v", e)
	}
	if strings.Contains(r.stdout.String(), "secret-value") {
		t.Error("list printed a secret")
	}
}
