package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func runStringValidator(v validator.String, p path.Path, val types.String) []string {
	var resp validator.StringResponse
	v.ValidateString(context.Background(), validator.StringRequest{Path: p, PathExpression: p.Expression(), ConfigValue: val}, &resp)
	var out []string
	for _, d := range resp.Diagnostics {
		out = append(out, d.Summary()+": "+d.Detail())
	}
	return out
}

func TestValidators(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		name  string
		v     validator.String
		path  path.Path
		value string
		// want is "" for valid values, else the store's own error message.
		want string
	}{
		{"name ok", connectionName(), path.Root("name"), "google-oauth-prod", ""},
		{"name digits", connectionName(), path.Root("name"), "a1", ""},
		{"name 63 chars", connectionName(), path.Root("name"), long[:63], ""},
		{"name upper", connectionName(), path.Root("name"), "Google", authconn.ValidateName("Google").Error()},
		{"name underscore", connectionName(), path.Root("name"), "google_oauth", authconn.ValidateName("google_oauth").Error()},
		{"name leading hyphen", connectionName(), path.Root("name"), "-google", authconn.ValidateName("-google").Error()},
		{"name trailing hyphen", connectionName(), path.Root("name"), "google-", authconn.ValidateName("google-").Error()},
		{"name 64 chars", connectionName(), path.Root("name"), long, authconn.ValidateName(long).Error()},
		{"name empty", connectionName(), path.Root("name"), "", authconn.ValidateName("").Error()},

		{"type ok", connectionType(), path.Root("type"), "TYPE_OAUTH2", ""},
		{"type lower", connectionType(), path.Root("type"), "oauth2", authconn.ValidateType("oauth2").Error()},

		{"url https", endpointURL(), path.Root("provider_url"), "https://accounts.google.com", ""},
		{"url loopback http", endpointURL(), path.Root("token_url"), "http://127.0.0.1:4444/oauth2/token", ""},
		{"url localhost http", endpointURL(), path.Root("auth_url"), "http://localhost:8080/auth", ""},
		{"url ipv6 loopback", endpointURL(), path.Root("auth_url"), "http://[::1]:8080/auth", ""},
		{"url http remote", endpointURL(), path.Root("provider_url"), "http://accounts.google.com", authconn.ValidateURL("provider_url", "http://accounts.google.com").Error()},
		{"url ftp", endpointURL(), path.Root("issuer_url"), "ftp://example.com", authconn.ValidateURL("issuer_url", "ftp://example.com").Error()},
		{"url relative", endpointURL(), path.Root("revocation_url"), "/revoke", authconn.ValidateURL("revocation_url", "/revoke").Error()},
		{"url userinfo", endpointURL(), path.Root("token_url"), "https://u:p@example.com/t", authconn.ValidateURL("token_url", "https://u:p@example.com/t").Error()},
		{"url fragment", endpointURL(), path.Root("token_url"), "https://example.com/t#x", authconn.ValidateURL("token_url", "https://example.com/t#x").Error()},
		{"url empty", endpointURL(), path.Root("issuer_url"), "", authconn.ValidateURL("issuer_url", "").Error()},

		{"client id ok", clientID(), path.Root("client_id"), "abc.apps.googleusercontent.com", ""},
		{"client id blank", clientID(), path.Root("client_id"), "  ", authconn.ValidateClientID("  ").Error()},

		{"secret ok", clientSecret(), path.Root("client_secret_wo"), "s3cr3t", ""},
		{"secret blank", clientSecret(), path.Root("client_secret_wo"), " \t", authconn.ValidateClientSecret(" ").Error()},

		{"scope ok", scope(), path.Root("scopes").AtListIndex(0), "offline_access", ""},
		{"scope url", scope(), path.Root("scopes").AtListIndex(0), "https://graph.microsoft.com/.default", ""},
		{"scope space", scope(), path.Root("scopes").AtListIndex(1), "openid email", authconn.ValidateScope("openid email").Error()},
		{"scope comma", scope(), path.Root("scopes").AtListIndex(1), "openid,email", authconn.ValidateScope("openid,email").Error()},
		{"scope empty", scope(), path.Root("scopes").AtListIndex(0), "", authconn.ValidateScope("").Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runStringValidator(c.v, c.path, types.StringValue(c.value))
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("%q: want valid, got %v", c.value, got)
				}
				return
			}
			if len(got) != 1 || !strings.HasSuffix(got[0], ": "+c.want) {
				t.Fatalf("%q: want one error ending in %q, got %v", c.value, c.want, got)
			}
		})
	}
}

// The messages come from the store, so they say what is allowed.
func TestValidatorMessagesAreActionable(t *testing.T) {
	for _, c := range []struct {
		v     validator.String
		attr  string
		value string
		want  []string
	}{
		{connectionName(), "name", "Bad_Name", []string{"lowercase letters, digits and hyphens", "Bad_Name"}},
		{connectionType(), "type", "TYPE_SAML", []string{"allowed: TYPE_OAUTH2"}},
		{endpointURL(), "token_url", "http://example.com/token", []string{"token_url", "use https", "localhost"}},
	} {
		got := strings.Join(runStringValidator(c.v, path.Root(c.attr), types.StringValue(c.value)), "\n")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s=%q: message %q does not contain %q", c.attr, c.value, got, w)
			}
		}
	}
}

func TestValidatorsSkipNullAndUnknown(t *testing.T) {
	for _, v := range []validator.String{connectionName(), connectionType(), endpointURL(), clientID(), scope(), clientSecret()} {
		for _, val := range []types.String{types.StringNull(), types.StringUnknown()} {
			if got := runStringValidator(v, path.Root("x"), val); len(got) != 0 {
				t.Errorf("%s on %v: want no error, got %v", v.Description(context.Background()), val, got)
			}
		}
		if v.Description(context.Background()) == "" || v.MarkdownDescription(context.Background()) == "" {
			t.Errorf("validator %T has no description", v)
		}
	}
}

func TestStatusValues(t *testing.T) {
	exp := mustTime(t, "2030-01-02T03:04:05Z")
	for _, c := range []struct {
		st         authconn.TokenStatus
		authorized bool
		expires    string
	}{
		{authconn.TokenStatus{Status: authconn.StatusNotAuthorized}, false, ""},
		{authconn.TokenStatus{Status: authconn.StatusAuthorized, Expiry: exp}, true, "2030-01-02T03:04:05Z"},
		{authconn.TokenStatus{Status: authconn.StatusNeedsReauthorization, Expiry: exp}, false, "2030-01-02T03:04:05Z"},
		{authconn.TokenStatus{Status: authconn.StatusAuthorized}, true, ""},
	} {
		a, e := statusValues(c.st)
		if a.ValueBool() != c.authorized {
			t.Errorf("%v: authorized = %v, want %v", c.st.Status, a.ValueBool(), c.authorized)
		}
		if c.expires == "" && !e.IsNull() || c.expires != "" && e.ValueString() != c.expires {
			t.Errorf("%v: token_expires_at = %v, want %q", c.st.Status, e, c.expires)
		}
	}
}
