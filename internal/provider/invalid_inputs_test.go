package provider

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// invalidInput is one invalid tailor_authconnection input: a change to a valid
// configuration, and the message Terraform shows for it. TestAccAuthConnectionResource_invalid
// runs each through `tofu plan` and expects the message; TestInvalidInputTable checks the
// messages against the provider's validators in-process and keeps the table in the docs
// in step with this list.
type invalidInput struct {
	attr, input string
	edit        func(a *connArgs)
	samlType    bool // type = "TYPE_SAML" (connArgs always writes TYPE_OAUTH2)
	atPlan      bool // reported by the resource's plan modifier, not by a validator
	want        string
}

var validConnArgs = connArgs{Name: "google-oauth", ProviderURL: "https://accounts.google.com", ClientID: "id",
	SecretWO: "secret", SecretVersion: 1}

func invalidInputs() []invalidInput {
	long := strings.Repeat("a", 64)
	name := func(n string) invalidInput {
		return invalidInput{attr: "name", input: fmt.Sprintf("%q", n), edit: func(a *connArgs) { a.Name = n }, want: authconn.ValidateName(n).Error()}
	}
	u := func(attr, v string, set func(a *connArgs)) invalidInput {
		return invalidInput{attr: attr, input: fmt.Sprintf("%q", v), edit: set, want: authconn.ValidateURL(attr, v).Error()}
	}
	proxyURL := func(v string) invalidInput {
		return invalidInput{attr: "proxy_base_url", input: fmt.Sprintf("%q", v), edit: func(a *connArgs) { a.ProxyBaseURL = v }, want: authconn.ValidateProxyBaseURL(v).Error()}
	}
	proxyHosts := func(h string) invalidInput {
		return invalidInput{attr: "proxy_allowed_hosts", input: fmt.Sprintf("[%q]", h), edit: func(a *connArgs) { a.ProxyHosts = []string{h} }, want: authconn.ValidateProxyHost(h).Error()}
	}
	return []invalidInput{
		name("Google-OAuth"), name("google_oauth"), name("-google"), name(long), name(""),
		{attr: "type", input: `"TYPE_SAML"`, samlType: true, want: authconn.ValidateType("TYPE_SAML").Error()},
		u("provider_url", "http://accounts.google.com", func(a *connArgs) { a.ProviderURL = "http://accounts.google.com" }),
		u("provider_url", "accounts.google.com", func(a *connArgs) { a.ProviderURL = "accounts.google.com" }),
		u("issuer_url", "ftp://issuer.example.com", func(a *connArgs) { a.IssuerURL = "ftp://issuer.example.com" }),
		u("auth_url", "https://user:pw@auth.example.com/", func(a *connArgs) { a.AuthURL = "https://user:pw@auth.example.com/" }),
		u("token_url", "http://10.0.0.1/token", func(a *connArgs) { a.TokenURL = "http://10.0.0.1/token" }),
		u("revocation_url", "https://example.com/revoke#x", func(a *connArgs) { a.RevocationURL = "https://example.com/revoke#x" }),
		{attr: "client_id", input: `"   "`, edit: func(a *connArgs) { a.ClientID = "   " }, want: authconn.ValidateClientID("   ").Error()},
		{attr: "scopes", input: `["openid email"]`, edit: func(a *connArgs) { a.Scopes = []string{"openid email"} }, want: authconn.ValidateScope("openid email").Error()},
		{attr: "scopes", input: `["openid,email"]`, edit: func(a *connArgs) { a.Scopes = []string{"openid,email"} }, want: authconn.ValidateScope("openid,email").Error()},
		{attr: "scopes", input: `[]`, edit: func(a *connArgs) { a.Scopes = []string{} }, want: "list must contain at least 1 elements"},
		{attr: "scopes", input: `["openid", "openid"]`, edit: func(a *connArgs) { a.Scopes = []string{"openid", "openid"} }, want: "This attribute contains duplicate values"},
		{attr: "client_secret_wo", input: "set, `client_secret_wo_version` missing", edit: func(a *connArgs) { a.SecretVersion = 0 },
			want: `Attribute "client_secret_wo_version" must be specified when "client_secret_wo" is specified`},
		{attr: "client_secret_wo_version", input: "set, `client_secret_wo` missing", edit: func(a *connArgs) { a.SecretWO = "" },
			want: `Attribute "client_secret_wo" must be specified when "client_secret_wo_version" is specified`},
		{attr: "client_secret", input: "set together with `client_secret_wo`", edit: func(a *connArgs) { a.Secret = "legacy" },
			want: `Attribute "client_secret_wo" cannot be specified when "client_secret" is specified`},
		{attr: "client_secret_wo", input: "missing (and no `client_secret`) on create", edit: func(a *connArgs) { a.SecretWO, a.SecretVersion = "", 0 }, atPlan: true,
			want: "A new connection needs its OAuth2 client secret: set client_secret_wo and client_secret_wo_version"},
		{attr: "client_secret", input: `" "`, edit: func(a *connArgs) { a.SecretWO, a.SecretVersion, a.Secret = "", 0, " " }, want: authconn.ValidateClientSecret(" ").Error()},
		{attr: "client_secret_wo", input: `"  "`, edit: func(a *connArgs) { a.SecretWO = "  " }, want: authconn.ValidateClientSecret("").Error()},
		// The security review's rows (finding 13): control characters and length limits;
		// Terraform strings are UTF-8, so invalid UTF-8 cannot reach the provider.
		{attr: "client_id", input: `"x\n\u001b[31mred"`, edit: func(a *connArgs) { a.ClientID = "x\n\x1b[31mred" }, want: authconn.ValidateClientID("x\n\x1b[31mred").Error()},
		{attr: "client_id", input: "1,025 characters", edit: func(a *connArgs) { a.ClientID = strings.Repeat("i", 1025) }, want: authconn.ValidateClientID(strings.Repeat("i", 1025)).Error()},
		{attr: "scopes", input: `["a\u0001b"]`, edit: func(a *connArgs) { a.Scopes = []string{"a\x01b"} }, want: authconn.ValidateScope("a\x01b").Error()},
		{attr: "scopes", input: `["read\u001b[2J"]`, edit: func(a *connArgs) { a.Scopes = []string{"read\x1b[2J"} }, want: authconn.ValidateScope("read\x1b[2J").Error()},
		{attr: "scopes", input: "one scope of 257 characters", edit: func(a *connArgs) { a.Scopes = []string{strings.Repeat("s", 257)} }, want: authconn.ValidateScope(strings.Repeat("s", 257)).Error()},
		{attr: "client_secret_wo", input: `"se\u001bcret"`, edit: func(a *connArgs) { a.SecretWO = "se\x1bcret" }, want: authconn.ValidateClientSecret("se\x1bcret").Error()},
		{attr: "client_secret_wo", input: "4,097 characters", edit: func(a *connArgs) { a.SecretWO = strings.Repeat("s", 4097) }, want: authconn.ValidateClientSecret(strings.Repeat("s", 4097)).Error()},
		{attr: "grant_type", input: `"password"`, edit: func(a *connArgs) { a.GrantType = "password" }, want: authconn.ValidateGrantType("password").Error()},
		{attr: "client_auth", input: `"tls_client_auth"`, edit: func(a *connArgs) { a.ClientAuth = "tls_client_auth" }, want: authconn.ValidateClientAuth("tls_client_auth").Error()},
		{attr: "resources", input: `["api.example.com"]`, edit: func(a *connArgs) { a.Resources = []string{"api.example.com"} }, want: authconn.ValidateResource("api.example.com").Error()},
		{attr: "client_assertion_key_wo", input: `"not a key"`, edit: func(a *connArgs) {
			a.SecretWO, a.SecretVersion, a.ClientAuth, a.KeyWO, a.KeyVersion = "", 0, authconn.ClientAuthPrivateKeyJWT, "not a key", 1
		}, want: keyError("not a key")},
		{attr: "client_assertion_key_wo", input: "set together with `client_secret_wo`", edit: func(a *connArgs) { a.KeyWO, a.KeyVersion = "not a key", 1 },
			want: `Attribute "client_secret_wo" cannot be specified when "client_assertion_key_wo" is specified`},
		{attr: "client_assertion_key_wo", input: "missing with `client_auth = \"private_key_jwt\"` on create", atPlan: true,
			edit: func(a *connArgs) { a.SecretWO, a.SecretVersion, a.ClientAuth = "", 0, authconn.ClientAuthPrivateKeyJWT },
			want: "A connection with client_auth = \"private_key_jwt\" authenticates with the client's private key"},
		proxyURL("https://api.example.com/v1?api_key=x"), proxyURL("http://api.example.com/v1"),
		proxyHosts("uploads.example.com/files"), proxyHosts("https://uploads.example.com"),
		{attr: "proxy_allowed_hosts", input: `[]`, edit: func(a *connArgs) { a.ProxyHosts = []string{} }, want: "set must contain at least 1 elements"},
	}
}

func keyError(pem string) string {
	_, _, err := authconn.ParseAssertionKey(pem)
	return err.Error()
}

// config returns the tailor_authconnection block of the case.
func (c invalidInput) config(label string) string {
	a := validConnArgs
	if c.edit != nil {
		c.edit(&a)
	}
	hcl := a.hcl(label)
	if c.samlType {
		hcl = strings.Replace(hcl, `"TYPE_OAUTH2"`, `"TYPE_SAML"`, 1)
	}
	return hcl
}

// validate runs the provider's ValidateResourceConfig in-process (as Terraform calls it at
// plan and validate) on the case's configuration and returns its diagnostics.
func (c invalidInput) validate(t *testing.T) []*tfprotov6.Diagnostic {
	t.Helper()
	ctx := context.Background()
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	sch, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	typ, ok := sch.ResourceSchemas["tailor_authconnection"].ValueType().(tftypes.Object)
	if !ok {
		t.Fatal("no object type for tailor_authconnection")
	}
	a := validConnArgs
	if c.edit != nil {
		c.edit(&a)
	}
	vals := map[string]tftypes.Value{}
	for k, at := range typ.AttributeTypes {
		vals[k] = tftypes.NewValue(at, nil)
	}
	str := func(k, v string, always bool) {
		if v != "" || always {
			vals[k] = tftypes.NewValue(tftypes.String, v)
		}
	}
	str("name", a.Name, true)
	str("type", "TYPE_OAUTH2", true)
	if c.samlType {
		str("type", "TYPE_SAML", true)
	}
	str("provider_url", a.ProviderURL, true)
	str("client_id", a.ClientID, true)
	str("issuer_url", a.IssuerURL, false)
	str("auth_url", a.AuthURL, false)
	str("token_url", a.TokenURL, false)
	str("revocation_url", a.RevocationURL, false)
	str("client_secret_wo", a.SecretWO, false)
	str("client_secret", a.Secret, false)
	str("grant_type", a.GrantType, false)
	str("client_auth", a.ClientAuth, false)
	str("client_assertion_key_wo", a.KeyWO, false)
	if a.KeyVersion != 0 {
		vals["client_assertion_key_wo_version"] = tftypes.NewValue(tftypes.Number, big.NewFloat(float64(a.KeyVersion)))
	}
	if a.Resources != nil {
		var l []tftypes.Value
		for _, s := range a.Resources {
			l = append(l, tftypes.NewValue(tftypes.String, s))
		}
		vals["resources"] = tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, l)
	}
	str("proxy_base_url", a.ProxyBaseURL, false)
	if a.ProxyHosts != nil {
		var l []tftypes.Value
		for _, h := range a.ProxyHosts {
			l = append(l, tftypes.NewValue(tftypes.String, h))
		}
		vals["proxy_allowed_hosts"] = tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, l)
	}
	if a.SecretVersion != 0 {
		vals["client_secret_wo_version"] = tftypes.NewValue(tftypes.Number, big.NewFloat(float64(a.SecretVersion)))
	}
	if a.Scopes != nil {
		var l []tftypes.Value
		for _, s := range a.Scopes {
			l = append(l, tftypes.NewValue(tftypes.String, s))
		}
		vals["scopes"] = tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, l)
	}
	dv, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: "tailor_authconnection", Config: &dv,
		ClientCapabilities: &tfprotov6.ValidateResourceConfigClientCapabilities{WriteOnlyAttributesAllowed: true}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Diagnostics
}

const (
	invalidTableBegin = "<!-- invalid-inputs:begin (generated by TestInvalidInputTable; UPDATE_INVALID_INPUT_TABLE=1 rewrites) -->"
	invalidTableEnd   = "<!-- invalid-inputs:end -->"
)

// TestInvalidInputTable: every row of the invalid-input table gets exactly its message from
// the provider's validators (in-process ValidateResourceConfig; the plan-time row is left to
// TestAccAuthConnectionResource_invalid, which runs every row through `tofu plan`), the
// valid configuration gets none, and the table in docs/ (between the invalid-inputs markers,
// in every docs/*.md that has them) is the one generated from the rows. Run with
// UPDATE_INVALID_INPUT_TABLE=1 to rewrite the docs.
func TestInvalidInputTable(t *testing.T) {
	if d := (invalidInput{}).validate(t); len(d) != 0 {
		t.Fatalf("the valid configuration gets diagnostics: %v", d[0].Detail)
	}
	var b strings.Builder
	b.WriteString("| # | attribute | input | when | message (summary: detail) |\n|---|---|---|---|---|\n")
	for i, c := range invalidInputs() {
		msg, when := c.want, "plan (provider's plan check)"
		if !c.atPlan {
			when = "validate / plan"
			diags := c.validate(t)
			var errs []string
			for _, d := range diags {
				if d.Severity == tfprotov6.DiagnosticSeverityError {
					errs = append(errs, d.Summary+": "+d.Detail)
				}
			}
			if !strings.Contains(strings.Join(errs, "\n"), c.want) {
				t.Errorf("row %d (%s = %s): validator errors %q, want one containing %q", i+1, c.attr, c.input, errs, c.want)
				continue
			}
			sort.Strings(errs) // the framework reports them in map order
			msg = strings.Join(errs, "<br>")
		}
		in := c.input
		if strings.HasPrefix(in, `"`) || strings.HasPrefix(in, "[") {
			in = "`" + in + "`"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s |\n", i+1, c.attr, in, when, strings.ReplaceAll(strings.ReplaceAll(msg, "|", `\|`), "\n", " "))
	}
	table := invalidTableBegin + "\n" + b.String() + invalidTableEnd
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	found := 0
	for _, p := range docs {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		i := strings.Index(s, invalidTableBegin)
		if i < 0 {
			continue
		}
		j := strings.Index(s[i:], invalidTableEnd)
		if j < 0 {
			t.Fatalf("%s: invalid-inputs begin marker without end marker", p)
		}
		found++
		cur := s[i : i+j+len(invalidTableEnd)]
		if cur == table {
			continue
		}
		if os.Getenv("UPDATE_INVALID_INPUT_TABLE") == "1" {
			if err := os.WriteFile(p, []byte(s[:i]+table+s[i+j+len(invalidTableEnd):]), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the invalid-input table in %s", p)
			continue
		}
		t.Errorf("%s: the invalid-input table is stale; run UPDATE_INVALID_INPUT_TABLE=1 go test -run TestInvalidInputTable ./internal/provider/\nwant:\n%s", p, table)
	}
	if found == 0 {
		t.Errorf("no docs/*.md holds the invalid-input table markers; add\n%s", table)
	}
}

// hclQuote quotes s as an HCL string literal: like Go's %q for printable text, but control
// and other non-printable characters as \uNNNN (HCL has no \x escapes), and template
// sequences (${, %{) escaped.
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r > 0xffff && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08X`, r)
		case !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestHCLQuoteWritesControlCharactersAsUnicodeEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"id": `"id"`, "x\n\x1b[31m": `"x\n\u001B[31m"`, "a\x01b": `"a\u0001b"`, `q"\`: `"q\"\\"`, "${x}": `"$${x}"`, "%{y}": `"%%{y}"`, "é\u202e": `"é\u202E"`,
	} {
		if got := hclQuote(in); got != want {
			t.Errorf("hclQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
