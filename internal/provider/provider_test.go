package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// testAccProtoV6ProviderFactories runs the provider under test in-process for
// terraform-plugin-testing (OpenTofu reattaches to it). Its OAuth2 requests go through
// loopbackOnlyHTTP: tests never reach a provider on the Internet.
var testAccProtoV6ProviderFactories = protoV6ProviderFactories(nil)

// protoV6ProviderFactories is testAccProtoV6ProviderFactories that, when rec is not nil,
// records the diagnostics the provider returns from ApplyResourceChange (create, update,
// delete) as OpenTofu receives them: the harness does not show warnings otherwise.
func protoV6ProviderFactories(rec *applyDiags) map[string]func() (tfprotov6.ProviderServer, error) {
	newServer := providerserver.NewProtocol6WithError(newProvider("test", providerOptions{
		OAuth: &oauth.Client{HTTP: loopbackOnlyHTTP()},
	})())
	return map[string]func() (tfprotov6.ProviderServer, error){
		"tailor": func() (tfprotov6.ProviderServer, error) {
			srv, err := newServer()
			if err != nil || rec == nil {
				return srv, err
			}
			return recordingServer{ProviderServer: srv, rec: rec}, nil
		},
	}
}

// loopbackOnlyHTTP is the HTTP client of the provider under test. It sends requests to
// loopback addresses only (httptest servers) and refuses any other host before dialing, and
// never uses a proxy: the fixtures use real provider URLs (https://accounts.google.com, whose
// preset has a public revocation endpoint, QuickBooks, ...), and a destroy of a connection
// with tokens must then end in a warning, not in a request to the Internet.
func loopbackOnlyHTTP() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: loopbackOnlyTransport{next: &http.Transport{
			Proxy: nil, // not http.ProxyFromEnvironment: a proxy would carry the request off this machine
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if strings.EqualFold(host, "localhost") {
					host = "127.0.0.1" // no name resolution
				}
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					return nil, fmt.Errorf("test transport refused to dial %s: tests must not leave this machine", addr)
				}
				return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
			},
			MaxIdleConns:    4,
			IdleConnTimeout: 5 * time.Second,
		}},
	}
}

// errNotLoopback is what loopbackOnlyTransport answers for any host but the loopback one.
var errNotLoopback = errors.New("the test transport refuses hosts other than loopback: tests must not leave this machine")

type loopbackOnlyTransport struct{ next http.RoundTripper }

func (t loopbackOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !authconn.IsLoopbackHost(req.URL.Hostname()) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, errNotLoopback)
	}
	return t.next.RoundTrip(req)
}

// applyDiags collects the diagnostics of ApplyResourceChange responses.
type applyDiags struct {
	mu    sync.Mutex
	diags []*tfprotov6.Diagnostic
	// planned are the diagnostics of PlanResourceChange (plan warnings), kept apart.
	planned []*tfprotov6.Diagnostic
}

// plannedWarnings returns the plan warnings recorded so far, and forgets them.
func (a *applyDiags) plannedWarnings() []*tfprotov6.Diagnostic {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*tfprotov6.Diagnostic
	for _, d := range a.planned {
		if d.Severity == tfprotov6.DiagnosticSeverityWarning {
			out = append(out, d)
		}
	}
	a.planned = nil
	return out
}

func (a *applyDiags) add(d []*tfprotov6.Diagnostic) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.diags = append(a.diags, d...)
}

// of returns the diagnostics recorded so far with the given severity.
func (a *applyDiags) of(sev tfprotov6.DiagnosticSeverity) []*tfprotov6.Diagnostic {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*tfprotov6.Diagnostic
	for _, d := range a.diags {
		if d.Severity == sev {
			out = append(out, d)
		}
	}
	return out
}

// recordingServer is the provider server with ApplyResourceChange diagnostics recorded.
type recordingServer struct {
	tfprotov6.ProviderServer
	rec *applyDiags
}

func (s recordingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	resp, err := s.ProviderServer.ApplyResourceChange(ctx, req)
	if resp != nil {
		s.rec.add(resp.Diagnostics)
	}
	return resp, err
}

func (s recordingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := s.ProviderServer.PlanResourceChange(ctx, req)
	if resp != nil {
		s.rec.mu.Lock()
		s.rec.planned = append(s.rec.planned, resp.Diagnostics...)
		s.rec.mu.Unlock()
	}
	return resp, err
}

// accEnv is what an acceptance test runs against: OpenTofu and a fresh Vault dev server,
// with a store on a path prefix of the test's own.
type accEnv struct {
	t      *testing.T
	vault  *testenv.Vault
	store  *store.Store
	prefix string
}

// newAccEnv prepares OpenTofu (testenv.SetupTofu) and starts a Vault dev server. Tests that
// use it cannot run in parallel (SetupTofu uses t.Setenv). With -short they are skipped.
func newAccEnv(t *testing.T) *accEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("acceptance test (OpenTofu + Vault); run without -short")
	}
	testenv.SetupTofu(t)
	// The provider runs in this process: keep the developer's Vault settings out of it.
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH",
		"VAULT_SKIP_VERIFY", "VAULT_ROLE_ID", "VAULT_SECRET_ID_FILE", EnvMount, EnvPathPrefix} {
		t.Setenv(k, "")
	}
	v := testenv.StartVault(t)
	prefix := "tf-" + randomHex(4)
	st, err := store.New(v.Client(), store.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return &accEnv{t: t, vault: v, store: st, prefix: prefix}
}

// providerConfig is the provider block for the test's Vault and prefix.
func (e *accEnv) providerConfig() string {
	return fmt.Sprintf(`
provider "tailor" {
  vault_address = %q
  vault_token   = %q
  path_prefix   = %q
}
`, e.vault.Addr, e.vault.Token, e.prefix)
}

// checkDestroyed is a CheckDestroy that looks in Vault: no connection is left under the
// prefix, and none of names has a configuration, a client secret or tokens.
func (e *accEnv) checkDestroyed(names ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		left, err := e.store.ListConnections(ctx)
		if err != nil {
			return err
		}
		if len(left) != 0 {
			return fmt.Errorf("connections left in Vault after destroy: %v", left)
		}
		for _, n := range names {
			if _, err := e.store.GetConnection(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("connection %q after destroy: want not found, got %v", n, err)
			}
			if _, err := e.store.ClientSecretVersion(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client secret of %q after destroy: want not found, got %v", n, err)
			}
			if _, err := e.store.GetTokens(ctx, n); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("tokens of %q after destroy: want not found, got %v", n, err)
			}
		}
		return nil
	}
}

// checkVaultEmpty fails when any record is left under the test's prefix.
func (e *accEnv) checkVaultEmpty() resource.TestCheckFunc {
	return vaultCheck(func(ctx context.Context) error {
		left, err := e.store.Records(ctx)
		if err != nil {
			return err
		}
		if len(left) != 0 {
			return fmt.Errorf("records left in Vault under %s: %v", e.prefix, left)
		}
		return nil
	})
}

// vaultCheck wraps a check of Vault's contents as a TestCheckFunc.
func vaultCheck(f func(ctx context.Context) error) resource.TestCheckFunc {
	return func(*terraform.State) error { return f(context.Background()) }
}

// mustRun calls f in a PreConfig and fails the test on error.
func (e *accEnv) mustRun(f func(ctx context.Context) error) func() {
	return func() {
		if err := f(context.Background()); err != nil {
			e.t.Fatalf("PreConfig: %v", err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// quoteRE returns a regexp that matches s literally, with any run of whitespace in s
// matching any run of whitespace (the CLI wraps long diagnostics).
func quoteRE(s string) *regexp.Regexp {
	parts := strings.Fields(s)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

func TestProviderSchemaIsValid(t *testing.T) {
	srv, err := testAccProtoV6ProviderFactories["tailor"]()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("schema diagnostic: %s: %s", d.Summary, d.Detail)
	}
	if _, ok := resp.ResourceSchemas["tailor_authconnection"]; !ok {
		t.Errorf("resource tailor_authconnection missing; have %v", slices.Sorted(maps.Keys(resp.ResourceSchemas)))
	}
	for _, ds := range []string{"tailor_authconnection", "tailor_authconnections"} {
		if _, ok := resp.DataSourceSchemas[ds]; !ok {
			t.Errorf("data source %s missing; have %v", ds, slices.Sorted(maps.Keys(resp.DataSourceSchemas)))
		}
	}

	// Every attribute has a description: they are the generated documentation.
	check := func(kind string, s *tfprotov6.Schema) {
		var walk func(prefix string, attrs []*tfprotov6.SchemaAttribute)
		walk = func(prefix string, attrs []*tfprotov6.SchemaAttribute) {
			for _, a := range attrs {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("%s: attribute %s%s has no description", kind, prefix, a.Name)
				}
				if a.NestedType != nil {
					walk(prefix+a.Name+".", a.NestedType.Attributes)
				}
			}
		}
		if s.Block.Description == "" {
			t.Errorf("%s has no description", kind)
		}
		walk("", s.Block.Attributes)
	}
	check("provider", resp.Provider)
	for n, s := range resp.ResourceSchemas {
		check(n, s)
	}
	for n, s := range resp.DataSourceSchemas {
		check(n, s)
	}

	// The secrets are sensitive, and the new one write-only.
	attrs := map[string]*tfprotov6.SchemaAttribute{}
	for _, a := range resp.ResourceSchemas["tailor_authconnection"].Block.Attributes {
		attrs[a.Name] = a
	}
	if a := attrs["client_secret_wo"]; a == nil || !a.WriteOnly || !a.Sensitive {
		t.Errorf("client_secret_wo must be write-only and sensitive: %+v", a)
	}
	if a := attrs["client_secret"]; a == nil || !a.Sensitive || a.WriteOnly {
		t.Errorf("client_secret must be sensitive (and not write-only): %+v", a)
	}
	for _, a := range resp.Provider.Block.Attributes {
		if a.Name == "vault_token" && !a.Sensitive {
			t.Error("vault_token must be sensitive")
		}
	}

	ids, err := srv.GetResourceIdentitySchemas(context.Background(), &tfprotov6.GetResourceIdentitySchemasRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := ids.IdentitySchemas["tailor_authconnection"]
	if id == nil || len(id.IdentityAttributes) != 1 || id.IdentityAttributes[0].Name != "name" || !id.IdentityAttributes[0].RequiredForImport {
		t.Errorf("identity schema of tailor_authconnection: want one required attribute name, got %+v", id)
	}
}

// newDiscoveryIdP is a generic OpenID Connect provider on 127.0.0.1 that serves only its
// discovery document (no catalog entry names its host). Its token endpoint is tokenPath()
// under it at each request (a test may move it), "/token" when tokenPath is nil.
func newDiscoveryIdP(t *testing.T, tokenPath func() string) *httptest.Server {
	t.Helper()
	var idp *httptest.Server
	idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		tok := "/token"
		if tokenPath != nil {
			tok = tokenPath()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": idp.URL, "authorization_endpoint": idp.URL + "/authorize", "token_endpoint": idp.URL + tok})
	}))
	t.Cleanup(idp.Close)
	return idp
}
