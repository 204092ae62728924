package broker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestClientCredentialsOneTokenRequestPerExpiry: two client-credentials connections at
// Hydra, one for a client_secret_basic client and one for a private_key_jwt client (ES256,
// its JWKS registered at Hydra). For each, three brokers on one Vault and 60 callers ask for
// tokens across several expiries of 3-second tokens. No authorization happens: the first
// call obtains the first token. Hydra answers every token request the proxy forwards; the
// number it answered equals the number of record versions and of distinct tokens served
// (one token request per expiry across the replicas), every served token is active at
// Hydra, and no call fails.
func TestClientCredentialsOneTokenRequestPerExpiry(t *testing.T) {
	t.Parallel()
	env := tailortest.StartProxiedTokenEndpoint(t, testenv.HydraOptions{AccessTokenTTL: 3 * time.Second})
	for _, auth := range []string{authconn.ClientAuthBasic, authconn.ClientAuthPrivateKeyJWT} {
		t.Run(auth, func(t *testing.T) {
			name := "cc-" + map[string]string{authconn.ClientAuthBasic: "basic", authconn.ClientAuthPrivateKeyJWT: "jwt"}[auth]
			clientID := env.AddClientCredentials(t, name, auth)
			before := env.Proxy.Requests("client_credentials")[200]
			var brokers []*broker.Broker
			for i := range 3 {
				b, _ := newBroker(t, env, fmt.Sprintf("%s-replica-%d", name, i), broker.Options{})
				brokers = append(brokers, b)
			}
			inactive := make(chan string, 64)
			res := callFor(brokers, name, 60, 8*time.Second, func(tok string) {
				if ir, err := env.Introspect(tok); err != nil || !ir.Active || ir.ClientID != clientID {
					inactive <- fmt.Sprintf("%+v %v", ir, err)
				}
			})
			close(inactive)
			issued := env.Proxy.Requests("client_credentials")[200] - before
			rec, err := env.Store.GetTokens(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d calls, %d distinct tokens served, %d token requests answered by Hydra, record version %d",
				auth, res.calls, len(res.first), issued, rec.Version)
			checkNoCallFailed(t, res)
			if issued < 3 {
				t.Errorf("invariant «a token per expiry»: only %d token requests in 8 s of 3-second tokens", issued)
			}
			if rec.Version != issued || (len(res.first) != issued && len(res.first) != issued-1) {
				t.Errorf("invariant «one token request per expiry across replicas»: Hydra answered %d, the record has %d versions, %d tokens were served",
					issued, rec.Version, len(res.first))
			}
			if rec.Grant != authconn.GrantClientCredentials || rec.Status != authconn.StatusAuthorized || rec.RefreshToken != "" {
				t.Errorf("record: grant %q status %q refresh token %v", rec.Grant, rec.Status, rec.RefreshToken != "")
			}
			for bad := range inactive {
				t.Errorf("invariant «served tokens are active when first served»: %s", bad)
			}
		})
	}
}

// TestClientCredentialsRefusedShowsInStatus: a client whose credentials Hydra refuses gets
// status failed in Vault with an actionable error, callers get 503 (not an
// authorization request), and once the secret is fixed the next attempt succeeds.
func TestClientCredentialsRefusedShowsInStatus(t *testing.T) {
	t.Parallel()
	env := tailortest.StartProxiedTokenEndpoint(t, testenv.HydraOptions{})
	env.AddClientCredentials(t, "cc-wrong", authconn.ClientAuthBasic)
	ctx := context.Background()
	secret, err := env.Store.GetClientSecret(ctx, "cc-wrong")
	if err != nil {
		t.Fatal(err)
	}
	// A wrong secret with no earlier version to fall back to.
	if err := env.Vault.Client().KVv2("secret").DeleteMetadata(ctx, env.Store.Layout("cc-wrong").ClientSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.PutClientSecret(ctx, "cc-wrong", "not-the-secret"); err != nil {
		t.Fatal(err)
	}
	b, _ := newBroker(t, env, "replica", broker.Options{BackoffBase: 200 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	_, err = b.Token(ctx, "cc-wrong")
	var un *broker.UnavailableError
	if !errors.As(err, &un) {
		t.Fatalf("a refused client: %v, want UnavailableError", err)
	}
	rec, err := env.Store.GetTokens(ctx, "cc-wrong")
	if err != nil || rec.Status != authconn.StatusFailed || !strings.Contains(rec.LastError, "invalid_client") || !strings.Contains(rec.LastError, "client secret") {
		t.Fatalf("record after the refusal: %+v %v", rec, err)
	}
	if _, err := env.Store.PutClientSecret(ctx, "cc-wrong", secret.Value); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tok, err := b.Token(ctx, "cc-wrong")
		if err == nil && tok.AccessToken != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixed secret was not picked up: %v", err)
		}
	}
	if rec, _ := env.Store.GetTokens(ctx, "cc-wrong"); rec.Status != authconn.StatusAuthorized || rec.LastError != "" {
		t.Errorf("record after the fix: status %s, last error %q", rec.Status, rec.LastError)
	}
}

// callResult is what callers saw: when each token was first served, and failures.
type callResult struct {
	calls    int64
	failures int64
	firstErr error
	first    map[string]time.Time
}

// callFor runs n callers spread over brokers, asking for connection name until d passed;
// onNew sees every token when it is first served.
func callFor(brokers []*broker.Broker, name string, n int, d time.Duration, onNew func(string)) *callResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res := &callResult{first: map[string]time.Time{}}
	var mu sync.Mutex
	var calls, failures atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tok, err := brokers[i%len(brokers)].Token(ctx, name)
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				mu.Lock()
				switch {
				case err != nil:
					failures.Add(1)
					res.firstErr = cmpErr(res.firstErr, err)
				case !time.Now().Before(tok.ExpiresAt):
					failures.Add(1)
					res.firstErr = cmpErr(res.firstErr, fmt.Errorf("served a token that expired at %s", tok.ExpiresAt))
				default:
					if _, ok := res.first[tok.AccessToken]; !ok {
						res.first[tok.AccessToken] = time.Now()
						wg.Add(1)
						go func() { defer wg.Done(); onNew(tok.AccessToken) }()
					}
				}
				mu.Unlock()
				time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	res.calls, res.failures = calls.Load(), failures.Load()
	return res
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func checkNoCallFailed(t *testing.T, r *callResult) {
	t.Helper()
	if r.failures > 0 {
		t.Errorf("invariant «every call gets a valid token»: %d of %d calls failed; first: %v", r.failures, r.calls, r.firstErr)
	}
}
