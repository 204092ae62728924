package connection_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/connection"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// deleteBed is a connection on the in-memory store with a refresh token, an access token and
// a client secret of random values, and a revocation endpoint that answers status, echoing
// the token and the client secret it got in its error description (as a careless provider
// may).
type deleteBed struct {
	st                *tailortest.MemStore
	rt, at, secret    string
	status, revokeHit atomic.Int32
}

func newDeleteBed(t *testing.T) *deleteBed {
	t.Helper()
	b := &deleteBed{st: tailortest.NewMemStore(), rt: "rt-" + hexOf(16), at: "at-" + hexOf(16), secret: "cs-" + hexOf(16)}
	b.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.revokeHit.Add(1)
		_, sec, _ := r.BasicAuth()
		if s := int(b.status.Load()); s != http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(s)
			fmt.Fprintf(w, `{"error":"temporarily_unavailable","error_description":"cannot revoke %s (client %s)"}`, r.FormValue("token"), sec)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := connection.Create(ctx, b.st, customConn("conn", srv.URL+"/revoke"), connection.Secret{ClientSecret: b.secret}); err != nil {
		t.Fatal(err)
	}
	ts := &authconn.TokenSet{AccessToken: b.at, RefreshToken: b.rt, Expiry: time.Now().Add(time.Hour), AuthorizedAt: time.Now().UTC()}
	if _, err := b.st.PutTokens(ctx, "conn", ts, 0); err != nil {
		t.Fatal(err)
	}
	b.st.Webhooks = []string{"hook"}
	return b
}

func hexOf(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// forbid makes the store refuse op with Vault's 403.
func (b *deleteBed) forbid(ops ...string) {
	b.st.Fault = func(op, _ string) error {
		for _, o := range ops {
			if o == op {
				return &store.VaultError{StatusCode: http.StatusForbidden, Message: "permission denied"}
			}
		}
		return nil
	}
}

// noSecret fails t when the error, the result's texts or its warning hold a token or the
// client secret.
func (b *deleteBed) noSecret(t *testing.T, res connection.Result, err error) {
	t.Helper()
	text := fmt.Sprintf("%v %v %v %q %q", err, res.RevokeError, res.Forbidden, res.Warnings, res.RevokeSkipped)
	if w, ok := res.Warning(); ok {
		text += w.Summary + w.Detail
	}
	for _, s := range []string{b.rt, b.at, b.secret} {
		if strings.Contains(text, s) {
			t.Errorf("a secret value is in what Delete returned: %s", text)
		}
	}
}

func (b *deleteBed) exists() bool {
	_, err := b.st.GetConnection(context.Background(), "conn")
	return err == nil
}

// TestDeletePolicy covers connection.Delete's failure policy on the in-memory store, with
// the 403 and the provider's failure injected; no Vault server.
func TestDeletePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oc := &oauth.Client{}

	t.Run("provider fails: kept unless Force", func(t *testing.T) {
		b := newDeleteBed(t)
		b.status.Store(http.StatusServiceUnavailable)
		res, err := connection.Delete(ctx, b.st, oc, "conn", connection.Options{})
		if err == nil || !strings.Contains(err.Error(), "was not deleted") || !strings.Contains(err.Error(), "[redacted]") || !b.exists() {
			t.Fatalf("delete with the provider down: %v (exists %v)", err, b.exists())
		}
		b.noSecret(t, res, err)
		res, err = connection.Delete(ctx, b.st, oc, "conn", connection.Options{Force: true})
		if err != nil || !res.Deleted || res.RevokeError == nil || b.exists() {
			t.Fatalf("forced delete: %+v %v", res, err)
		}
		w, ok := res.Warning()
		if !ok || w.Summary != "Tokens not revoked at the OAuth2 provider" || !strings.Contains(w.Detail, "cannot revoke [redacted] (client [redacted])") {
			t.Errorf("warning: %+v %v", w, ok)
		}
		b.noSecret(t, res, err)
	})

	t.Run("Vault refuses: kept unless DeleteIfForbidden", func(t *testing.T) {
		b := newDeleteBed(t)
		b.forbid("GetTokens", "GetClientSecret", "AcquireLease")
		res, err := connection.Delete(ctx, b.st, oc, "conn", connection.Options{Force: true})
		var ve *store.VaultError
		if !errors.As(err, &ve) || ve.StatusCode != http.StatusForbidden || !b.exists() {
			t.Fatalf("delete refused by Vault: %v (exists %v)", err, b.exists())
		}
		res, err = connection.Delete(ctx, b.st, oc, "conn", connection.Options{Force: true, DeleteIfForbidden: true, NoDeletedEvent: true})
		if err != nil || !res.Deleted || res.Forbidden == nil || len(res.Revoked) != 0 || b.exists() || b.revokeHit.Load() != 0 {
			t.Fatalf("delete if forbidden: %+v %v (exists %v, %d revocation requests)", res, err, b.exists(), b.revokeHit.Load())
		}
		w, ok := res.Warning()
		if !ok || !strings.Contains(w.Detail, "Vault answered 403") || !strings.Contains(w.Detail, "grant the Terraform role read on .../connections/+/tokens") {
			t.Errorf("warning: %+v %v", w, ok)
		}
		b.noSecret(t, res, err)
	})

	t.Run("revoked and deleted, the event once", func(t *testing.T) {
		b := newDeleteBed(t)
		res, err := connection.Delete(ctx, b.st, oc, "conn", connection.Options{})
		if err != nil || !res.Deleted || len(res.Revoked) != 2 || b.exists() {
			t.Fatalf("delete: %+v %v", res, err)
		}
		if _, ok := res.Warning(); ok || len(b.st.Events) != 1 {
			t.Errorf("a warning, or %d events (want 1)", len(b.st.Events))
		}
		b = newDeleteBed(t)
		if _, err := connection.Delete(ctx, b.st, oc, "conn", connection.Options{NoDeletedEvent: true}); err != nil || len(b.st.Events) != 0 {
			t.Errorf("NoDeletedEvent: %v, %d events", err, len(b.st.Events))
		}
	})
}
