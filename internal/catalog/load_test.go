package catalog

import (
	"strings"
	"testing"
)

// TestEmbeddedEntriesLoad: every embedded entry passes the validator.
func TestEmbeddedEntriesLoad(t *testing.T) {
	entries, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name] = true
	}
	for _, want := range strings.Fields("github google microsoft oidc quickbooks salesforce slack xero") {
		if !names[want] {
			t.Errorf("entry %s is missing (entries %v)", want, names)
		}
	}
}

const validEntry = `{"name": "acme", "hosts": ["acme.example.com"],
 "params": [{"name": "sub", "description": "d", "pattern": "^[a-z]+$", "where": ["host"]}],
 "endpoints": {"authorize": "https://{sub}.example.com/authorize", "token": "https://acme.example.com/token"},
 "no_refresh_token_advice": "a", "redirect_notes": "r" %s}`

// TestLoaderRefuses: secret-looking metadata, unanchored patterns, undeclared or misplaced
// placeholders, unknown fields and values.
func TestLoaderRefuses(t *testing.T) {
	if _, err := Parse([]byte(strings.Replace(validEntry, "%s", "", 1))); err != nil {
		t.Fatalf("the valid entry: %v", err)
	}
	for name, extra := range map[string]string{
		"token metadata access_token":   `, "metadata": {"token": [{"name": "at", "from": "access_token"}]}`,
		"nested refresh_token":          `, "metadata": {"token": [{"name": "rt", "from": "authed_user.refresh_token"}]}`,
		"id_token":                      `, "metadata": {"token": [{"name": "idt", "from": "id_token"}]}`,
		"a secret name":                 `, "metadata": {"token": [{"name": "client_secret", "from": "x"}]}`,
		"password in a call":            `, "metadata": {"call": {"url": "https://acme.example.com/me", "pick": "first", "values": [{"name": "p", "from": "user.password"}]}}`,
		"callback code":                 `, "metadata": {"callback": [{"name": "c", "from": "code"}]}`,
		"unknown field":                 `, "scope_sep": ","`,
		"unknown client auth":           `, "client_auth": "magic"`,
		"revocation without endpoint":   `, "revocation": {"kind": "rfc7009"}`,
		"undeclared placeholder":        `, "api": {"base_url": "https://{region}.example.com"}`,
		"placeholder in the wrong part": `, "api": {"base_url": "https://acme.example.com/{sub}"}`,
		"http template":                 `, "api": {"base_url": "http://acme.example.com"}`,
		"pick without rule":             `, "metadata": {"call": {"url": "https://acme.example.com/me", "values": [{"name": "id", "from": "id"}]}}`,
		"match without param":           `, "metadata": {"call": {"url": "https://acme.example.com/me", "pick": "match", "match_field": "id", "values": [{"name": "id", "from": "id"}]}}`,
	} {
		if _, err := Parse([]byte(strings.Replace(validEntry, "%s", extra, 1))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	unanchored := strings.Replace(strings.Replace(validEntry, "%s", "", 1), `"^[a-z]+$"`, `"[a-z]+"`, 1)
	if _, err := Parse([]byte(unanchored)); err == nil {
		t.Error("an unanchored pattern was accepted")
	}
}
