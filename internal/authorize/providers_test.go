package authorize

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// TestHostedProviderCacheFetchesDiscoveryOncePerVersion: 20 resolutions of one connection
// version fetch its discovery document once; a new version fetches it again.
func TestHostedProviderCacheFetchesDiscoveryOncePerVersion(t *testing.T) {
	var fetches atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `","authorization_endpoint":"` + srv.URL + `/authorize","token_endpoint":"` + srv.URL + `/token"}`))
	}))
	defer srv.Close()
	var c providerCache
	conn := &store.ConnectionRecord{Connection: authconn.Connection{Name: "c", ProviderURL: srv.URL, IssuerURL: srv.URL}, Version: 1}
	for range 20 {
		if _, err := c.resolve(context.Background(), &oauth.Client{}, conn); err != nil {
			t.Fatal(err)
		}
	}
	first := fetches.Load()
	if first == 0 {
		t.Fatal("no discovery fetch at all: the test does not exercise discovery")
	}
	conn.Version = 2
	if _, err := c.resolve(context.Background(), &oauth.Client{}, conn); err != nil {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 2*first {
		t.Errorf("invariant «discovery once per configuration version»: %d fetches for 20 resolutions of version 1 (%d) and one of version 2", got, first)
	}
}
