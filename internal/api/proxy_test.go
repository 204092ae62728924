package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
)

// proxyCalls records what the proxy route hands on.
type proxyCalls struct{ name, keyID string }

func (p *proxyCalls) ServeAPIKey(w http.ResponseWriter, _ *http.Request, name, keyID string) {
	p.name, p.keyID = name, keyID
	w.WriteHeader(http.StatusTeapot)
}

// TestProxyRouteChecksTheKeyAndMarksRefusals: a call without a key is refused with
// tokend's own answer (Tailor-Proxy-Error, no attempt) and never reaches the proxy; an
// allowed caller's call is handed on with the connection and key id.
func TestProxyRouteChecksTheKeyAndMarksRefusals(t *testing.T) {
	pc := &proxyCalls{}
	s, err := New(Options{Broker: &broker.Broker{}, KeyCache: NewKeyCache(nil, 0, nil), Proxy: pc})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/connections/c1/proxy/items", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Tailor-Proxy-Error") != "unauthenticated" ||
		rec.Header().Get("Tailor-Proxy-Attempts") != "0" || pc.name != "" {
		t.Fatalf("without a key: %d %v, proxy reached: %q", rec.Code, rec.Header(), pc.name)
	}

	open, err := New(Options{Broker: &broker.Broker{}, NoAuth: true, Proxy: pc})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	open.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "http://localhost/v1/connections/c1/proxy/items/1", nil))
	if rec.Code != http.StatusTeapot || pc.name != "c1" || pc.keyID != "insecure-no-auth" {
		t.Fatalf("allowed: %d, proxy got %+v", rec.Code, pc)
	}
}
