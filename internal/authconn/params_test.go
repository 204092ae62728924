package authconn

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCatalogFieldsAreOmittedWhenEmpty: records written before the catalog fields read and
// write unchanged.
func TestCatalogFieldsAreOmittedWhenEmpty(t *testing.T) {
	b, _ := json.Marshal(Connection{Name: "x"})
	ts, _ := json.Marshal(TokenSet{Status: StatusAuthorized, IssuedBy: &Issuance{TokenOrigin: "https://a:443"}})
	for _, k := range []string{`"provider"`, `"params"`, `"client_secret_expires_at"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("empty %s written: %s", k, b)
		}
	}
	if strings.Contains(string(ts), `"metadata"`) || strings.Contains(string(ts), `"refresh_origin"`) {
		t.Errorf("empty metadata or refresh origin written: %s", ts)
	}
}

func TestValidateParam(t *testing.T) {
	for k, v := range map[string]string{"subdomain": "acme", "tenant_id": "x", "realmId": "9130"} {
		if err := ValidateParam(k, v); err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	for _, kv := range [][2]string{{"", "a"}, {"1a", "a"}, {"a-b", "a"}, {"a.b", "a"}, {"a", "x\ny"}, {"a", "\u202e"}, {"a", strings.Repeat("a", 256)}} {
		if err := ValidateParam(kv[0], kv[1]); err == nil {
			t.Errorf("%q=%q accepted", kv[0], kv[1])
		}
	}
	c := Connection{Name: "n", Type: TypeOAuth2, ProviderURL: "https://login.example.com", ClientID: "c", Params: map[string]string{"bad key": "v"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "parameter name") {
		t.Errorf("Validate must check params: %v", err)
	}
}
