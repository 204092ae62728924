package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRefusalsAreCountedByRoute: a refusal of the caller check is counted in
// tokend_api_refusals_total by route and code; only the token route's also count as token
// requests, so a refused proxy, list, connection or admin call is no token request.
func TestRefusalsAreCountedByRoute(t *testing.T) {
	hot, key := hotServer(t) // key: token on "c", not proxy, not admin
	o := hot.o
	o.Metrics, o.Links, o.Proxy = nil, &recordingLinks{}, &proxyCalls{}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, key string, want int) {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body, want)
		}
	}
	send("POST", "/v1/connections/c/proxy/items", "", http.StatusUnauthorized)
	send("GET", "/v1/connections/c/proxy/items", key, http.StatusForbidden) // token only
	send("GET", "/v1/connections/c/proxy/items", "tk_unknown_x", http.StatusUnauthorized)
	send("GET", "/v1/connections/Not_A_Name/proxy/items", key, http.StatusBadRequest)
	send("GET", "/v1/connections", "", http.StatusUnauthorized)
	send("GET", "/v1/connections/c", "", http.StatusUnauthorized)
	send("GET", "/v1/admin/links", key, http.StatusForbidden) // not an admin key
	send("GET", "/v1/admin/links", "", http.StatusUnauthorized)
	m := s.metrics
	for _, outcome := range []string{"ok", "unauthenticated", "forbidden", "bad_request"} {
		if n := testutil.ToFloat64(m.requests.WithLabelValues(outcome)); n != 0 {
			t.Fatalf("invariant «only token requests are token requests»: tokend_token_requests_total{outcome=%q} is %v after refused proxy, list, connection and admin calls", outcome, n)
		}
	}

	send("GET", "/v1/connections/c/token", "", http.StatusUnauthorized)
	send("GET", "/v1/connections/d/token", key, http.StatusForbidden)
	send("GET", "/v1/connections/c/token", key, http.StatusOK)
	want := map[refusal]float64{
		{routeProxy, "unauthenticated"}: 2, {routeProxy, "forbidden"}: 1, {routeProxy, "invalid_name"}: 1,
		{routeList, "unauthenticated"}: 1, {routeConnection, "unauthenticated"}: 1,
		{routeAdmin, "forbidden"}: 1, {routeAdmin, "unauthenticated"}: 1,
		{routeToken, "unauthenticated"}: 1, {routeToken, "forbidden"}: 1,
	}
	for k, c := range m.refused {
		if got := testutil.ToFloat64(c); got != want[k] {
			t.Errorf("tokend_api_refusals_total{route=%q,code=%q} = %v, want %v", k.route, k.code, got, want[k])
		}
	}
	for outcome, n := range map[string]float64{"ok": 1, "unauthenticated": 1, "forbidden": 1} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(outcome)); got != n {
			t.Errorf("tokend_token_requests_total{outcome=%q} = %v, want %v: the token route's refusals are token requests", outcome, got, n)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry, "tokend_api_refusals_total"); err != nil || n != 5*len(refusalCodes) {
		t.Errorf("%d series of tokend_api_refusals_total (%v), want every route × code at zero or more", n, err)
	}
}
