package api

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

type flakyKeys struct {
	rec    *store.APIKey
	down   atomic.Bool
	failed atomic.Int64 // reads refused while down
}

func (f *flakyKeys) GetAPIKey(_ context.Context, id string) (*store.APIKey, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return nil, errors.New("vault unreachable")
	}
	if f.rec == nil || f.rec.ID != id {
		return nil, &store.NotFoundError{Kind: "api key", Name: id}
	}
	return f.rec, nil
}

// TestKeyCacheKeepsKnownKeysDuringAVaultOutage: once its ttl has passed, a cached key record
// is read again from Vault; if Vault cannot be read, the known record is used instead of
// refusing the caller: a Vault outage longer than --key-cache-ttl does not turn away the
// callers of tokens still served from memory. Unknown keys are still refused.
func TestKeyCacheKeepsKnownKeysDuringAVaultOutage(t *testing.T) {
	ks := &flakyKeys{rec: &store.APIKey{ID: "aaaaaaaaaaaa", Connections: []string{"c"}}}
	c := newKeyCache(ks, 10*time.Millisecond, nil)
	ctx := context.Background()
	if rec, err := c.get(ctx, "aaaaaaaaaaaa"); err != nil || rec == nil {
		t.Fatalf("get = %v, %v", rec, err)
	}
	ks.down.Store(true)
	// Until the ttl has passed the cache answers alone; then it reads Vault, which fails.
	for deadline := time.Now().Add(5 * time.Second); ks.failed.Load() == 0; time.Sleep(time.Millisecond) {
		if rec, err := c.get(ctx, "aaaaaaaaaaaa"); err != nil || rec == nil {
			t.Fatalf("known key with Vault down: %v, %v; want the cached record", rec, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never read Vault again after its ttl")
		}
	}
	if rec, err := c.get(ctx, "aaaaaaaaaaaa"); err != nil || rec == nil {
		t.Fatalf("known key with Vault down after the ttl: %v, %v; want the cached record", rec, err)
	}
	if _, err := c.get(ctx, "bbbbbbbbbbbb"); err == nil {
		t.Fatalf("an unknown key was accepted with Vault down")
	}
}
