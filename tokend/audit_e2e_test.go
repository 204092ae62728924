package main

import (
	"context"
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// auditLine is a line of the audit stream, as docs/security.md documents it.
type auditLine struct {
	Time    string `json:"time"`
	Replica string `json:"replica"`
	Caller  struct {
		Kind        string `json:"kind"`
		ID          string `json:"id"`
		Description string `json:"description"`
	} `json:"caller"`
	Connection string `json:"connection"`
	Subject    string `json:"subject"`
	Action     string `json:"action"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
}

// readAudit returns the lines of the audit stream at path; a line that is not one JSON
// object fails the test.
func readAudit(t *testing.T, path string) []auditLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []auditLine
	for l := range strings.Lines(string(b)) {
		var a auditLine
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("invariant «the audit stream is one JSON object per line»: %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

// TestAuditTrailEndToEnd: `tokend serve --audit-log FILE` and CLI commands with the same
// --audit-log write one stream: the creation of an API key (by the operator), a token read
// with it (with the key's id and description), a read it may not make (denied, forbidden)
// and `tokend revoke` (by the operator), each with its outcome; no line holds the key.
func TestAuditTrailEndToEnd(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	env.AddConnection(t, "google-oauth")
	env.Authorize(t, "google-oauth")
	bed := newTokendBed(t, env)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	key := bed.createKey(t, "--connections", "google-*", "--description", "billing job", "--audit-log", file)
	keyID := strings.SplitN(key, "_", 3)[1]
	srv := bed.serve(t, "audit-a", withFlags("--audit-log", file))
	if resp, body := get(t, srv.URL+"/v1/connections/google-oauth/token", key); resp.StatusCode != 200 {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL+"/v1/connections/quickbooks-acme/token", key); resp.StatusCode != 403 {
		t.Fatalf("a connection the key may not use: %d, want 403", resp.StatusCode)
	}
	if _, stderr, err := bed.run("revoke", "google-oauth", "--audit-log", file); err != nil {
		t.Fatalf("revoke: %v\n%s", err, stderr)
	}
	want := []string{
		"key.created success cli " + keyID,
		"token.read success api_key google-oauth " + keyID + " billing job audit-a",
		"token.read denied api_key quickbooks-acme " + keyID + " billing job audit-a forbidden",
		"connection.revoked success cli google-oauth",
	}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = got[:0]
		for _, a := range readAudit(t, file) {
			if a.Time == "" {
				t.Errorf("a record without time: %+v", a)
			}
			s := strings.Join(strings.Fields(strings.Join([]string{a.Action, a.Outcome, a.Caller.Kind, a.Connection, a.Subject}, " ")), " ")
			if a.Caller.Kind == "api_key" {
				s += " " + a.Caller.ID + " " + a.Caller.Description + " " + a.Replica
			}
			if a.Reason != "" {
				s += " " + a.Reason
			}
			got = append(got, s)
		}
		if containsAll(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !containsAll(got, want) {
		t.Fatalf("invariant «every token read, refusal, key change and revoke is one audit record»:\n got %q\nwant %q", got, want)
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), key) || strings.Contains(string(b), strings.SplitN(key, "_", 3)[2]) {
		t.Fatal("invariant «no secret in the audit stream»: the API key is in it")
	}
}

// containsAll reports whether got holds every line of want, in want's order.
func containsAll(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestAuditTrailNamesWhoChangedAConnection: tokend serve's connection.changed records name
// the writer the change log's entry names: the operator's OS user for `tokend create`, and
// Terraform for the provider's store (store.WriterTerraform, as internal/provider opens it).
func TestAuditTrailNamesWhoChangedAConnection(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: time.Hour})
	bed := newTokendBed(t, env)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	bed.serve(t, "audit-changes", withFlags("--audit-log", file))
	bed.runIn(t, "s3cret-of-cli-made\n", "create", "--name", "cli-made", "--type", "TYPE_OAUTH2", "--provider-url", env.Hydra.Issuer,
		"--issuer-url", env.Hydra.Issuer, "--client-id", "c", "--client-secret-stdin")
	vc := env.Vault.Client()
	tf, err := store.New(vc, store.Options{Prefix: env.Prefix, Writer: store.WriterTerraform})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tf.CreateConnection(context.Background(), &authconn.Connection{Name: "tf-made", Type: authconn.TypeOAuth2,
		ProviderURL: env.Hydra.Issuer, IssuerURL: env.Hydra.Issuer, ClientID: "c"}); err != nil {
		t.Fatal(err)
	}
	operator := ""
	if u, err := user.Current(); err == nil {
		operator = u.Username
	}
	want := map[string]string{"cli-made": "cli " + operator, "tf-made": "terraform "}
	got := map[string]string{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, a := range readAudit(t, file) {
			if a.Action == "connection.changed" && want[a.Connection] != "" {
				got[a.Connection] = a.Caller.Kind + " " + a.Caller.ID
			}
		}
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("invariant «a change names its writer»: %s changed by %q, want %q", name, got[name], w)
		}
	}
}
