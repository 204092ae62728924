package broker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// captureSink stands in for https://attacker.example/token: it records everything sent to it
// (the body, and the decoded HTTP basic credentials) and answers invalid_client, which makes
// a client that would fall back to an earlier secret try it.
type captureSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newCaptureSink(t *testing.T) *captureSink {
	s := &captureSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization")+" basic="+user+":"+pass+" body="+string(body))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// leaked returns the first of secrets that reached the sink ("" when none did), and how many
// requests it received. Tests report only whether a secret leaked, never its value.
func (s *captureSink) leaked(secrets ...string) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.got {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(g, sec) {
				return sec, len(s.got)
			}
		}
	}
	return "", len(s.got)
}

// moveTokenURL is the review's finding 1 as the Terraform role does it: read the config
// (allowed), point token_url at the sink, write it with check-and-set (which notes the change
// in the change log, as the provider's update does).
func moveTokenURL(t *testing.T, tf *store.Store, name, to string) {
	t.Helper()
	ctx := context.Background()
	if _, err := tf.GetClientSecret(ctx, name); !isForbidden(err) {
		t.Fatalf("the Terraform role read the client secret: %v", err)
	}
	if _, err := tf.GetTokens(ctx, name); !isForbidden(err) {
		t.Fatalf("the Terraform role read the tokens: %v", err)
	}
	c, err := tf.GetConnection(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	c.TokenURL = to
	if _, err := tf.UpdateConnection(ctx, &c.Connection, c.Version); err != nil {
		t.Fatalf("the Terraform role could not update the config: %v", err)
	}
}

func isForbidden(err error) bool {
	var ve *store.VaultError
	return errors.As(err, &ve) && ve.StatusCode == http.StatusForbidden
}

// TestAttackF1_TerraformRoleMovesTokenURL: the review's finding 1. A connection authorized at
// Hydra, whose token_url a token with exactly the documented Terraform policy then points at
// a capture sink: the sink receives neither the refresh token nor the client secret, and the
// connection ends needs_reauthorization with a message that says the endpoint moved.
func TestAttackF1_TerraformRoleMovesTokenURL(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	env.AddConnection(t, "victim")
	authorized := env.Authorize(t, "victim")
	st := env.NewStore(t)
	b, c := newBroker(t, env, "r1", broker.Options{Store: st, Changes: st, ChangeInterval: 100 * time.Millisecond,
		RecheckInterval: time.Second, NegativeTTL: 500 * time.Millisecond})
	ctx := context.Background()
	if _, err := b.Token(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	sink := newCaptureSink(t)
	moveTokenURL(t, env.RoleStore(t, "terraform"), "victim", sink.srv.URL+"/capture-attacker-token")

	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err = b.Token(ctx, "victim"); err != nil {
			break
		}
	}
	time.Sleep(2 * time.Second) // a few more background ticks: no retry may reach the sink either
	rtLeak, n := sink.leaked(authorized.RefreshToken)
	secretLeak, _ := sink.leaked(env.ClientSecret)
	if rtLeak != "" || secretLeak != "" || n != 0 {
		t.Fatalf("the sink received %d requests (the refresh token: %v, the client secret: %v) from the moved token endpoint", n, rtLeak != "", secretLeak != "")
	}
	var na *broker.NotAuthorizedError
	if !errors.As(err, &na) || na.Status != authconn.StatusNeedsReauthorization {
		t.Fatalf("Token after the move = %v, want needs_reauthorization", err)
	}
	rec, gerr := env.Store.GetTokens(ctx, "victim")
	if gerr != nil {
		t.Fatal(gerr)
	}
	proxy, _ := authconn.Origin(env.Proxy.URL)
	moved, _ := authconn.Origin(sink.srv.URL)
	if want := "the token endpoint moved from " + proxy + " to " + moved; rec.Status != authconn.StatusNeedsReauthorization || !strings.Contains(rec.LastError, want) {
		t.Fatalf("stored status %s, last error %q; want needs_reauthorization saying %q", rec.Status, rec.LastError, want)
	}
	if c.get(broker.OutcomeInvalidGrant) != 1 {
		t.Errorf("outcomes %v, want one invalid_grant (the failure path of a refused refresh token)", c.outcomes)
	}
}

// TestAttackF1_TerraformRoleMovesClientCredentialsTokenURL: a client-credentials connection
// whose token_url the Terraform role moves sends no client secret: not the stored one, which
// was written for the old endpoint, and not as a fallback after the role wrote a secret of
// its own for the new endpoint.
func TestAttackF1_TerraformRoleMovesClientCredentialsTokenURL(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	env.AddClientCredentials(t, "cc", authconn.ClientAuthBasic)
	ctx := context.Background()
	realSecret, err := env.Store.GetClientSecret(ctx, "cc")
	if err != nil {
		t.Fatal(err)
	}
	st := env.NewStore(t)
	b, _ := newBroker(t, env, "r1", broker.Options{Store: st, Changes: st, ChangeInterval: 100 * time.Millisecond,
		RecheckInterval: time.Second, NegativeTTL: 500 * time.Millisecond, BackoffBase: 200 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	if _, err := b.Token(ctx, "cc"); err != nil {
		t.Fatal(err)
	}
	sink := newCaptureSink(t)
	tf := env.RoleStore(t, "terraform")
	moveTokenURL(t, tf, "cc", sink.srv.URL+"/capture-cc")

	var rec *store.TokenRecord
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, _ = b.Token(ctx, "cc")
		if rec, err = env.Store.GetTokens(ctx, "cc"); err == nil && rec.Status == authconn.StatusFailed {
			break
		}
	}
	if leak, n := sink.leaked(realSecret.Value); leak != "" || n != 0 {
		t.Fatalf("the sink received %d requests (leaked the secret: %v)", n, leak != "")
	}
	if rec == nil || rec.Status != authconn.StatusFailed || !strings.Contains(rec.LastError, "was written for") ||
		!strings.Contains(rec.LastError, "bump client_secret_wo_version") {
		t.Fatalf("record after the move: %+v, want failed with a message that says how to write the secret again", rec)
	}

	// The role writes a secret of its own for the new endpoint: that one is sent (the role
	// knows it), and when the sink refuses it, the earlier, real secret is not tried there.
	if _, err := tf.PutClientSecret(ctx, "cc", "attacker-known-secret"); err != nil {
		t.Fatalf("the Terraform role could not write a client secret: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, _ = b.Token(ctx, "cc")
		if _, n := sink.leaked(); n >= 2 {
			break
		}
	}
	if leak, _ := sink.leaked(realSecret.Value); leak != "" {
		t.Fatal("the real client secret reached the sink as the fallback after the sink refused the role's own secret")
	}
	if _, n := sink.leaked(); n == 0 {
		t.Fatal("the role's own secret was never sent to its endpoint: the test proves nothing about the fallback")
	}
}

// TestTerraformRoleCannotRebindASecret: the endpoint origins of a client secret are part of
// the secret's record, and the Terraform policy has no patch on it: the role cannot bind the
// stored secret to another endpoint without writing a new value.
func TestTerraformRoleCannotRebindASecret(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	env := &tailortest.Env{Vault: v, Prefix: "tailor"}
	env.Store = env.NewStore(t)
	ctx := context.Background()
	c := &authconn.Connection{Name: "x", Type: authconn.TypeOAuth2, ProviderURL: "https://idp.example", ClientID: "id",
		AuthURL: "https://idp.example/auth", TokenURL: "https://idp.example/token"}
	if _, err := env.Store.CreateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, "x", "the-real-secret"); err != nil {
		t.Fatal(err)
	}
	tf := env.RoleStore(t, "terraform")
	kv := tf.Client().KVv2("secret")
	_, err := kv.Patch(ctx, env.Store.Layout("x").ClientSecret, map[string]any{"endpoint_origins": []string{"https://attacker.example:443"}})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("patching the secret's origins with the Terraform policy: %v, want 403", err)
	}
	cs, err := env.Store.GetClientSecret(ctx, "x")
	if err != nil || cs.Value != "the-real-secret" || !authconn.SameOrigins(cs.EndpointOrigins, []string{"https://idp.example:443"}) {
		t.Fatalf("secret after the attempt: origins %v, %v", cs.EndpointOrigins, err)
	}
}
