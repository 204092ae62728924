package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// getConnection asks GET /v1/connections/{name} with key.
func getConnection(s *Server, key, name string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/connections/"+name, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	s.ServeHTTP(w, r)
	return w
}

// TestConnectionRouteShowsMetadataToAProxyOnlyKey: a proxy-only key (403 on the token
// endpoint) reads its connection's status, metadata and API base URL, and never the token.
func TestConnectionRouteShowsMetadataToAProxyOnlyKey(t *testing.T) {
	s, key := hotServerWith(t, qbMetadata, qbBase)
	s.keys.ks.(*flakyKeys).rec.SetGrants([]store.KeyGrant{{Pattern: "c", Allow: []string{"proxy"}}})
	if w := getToken(s, key, "c"); w.Code != http.StatusForbidden {
		t.Fatalf("control: the proxy-only key reads the token: %d", w.Code)
	}
	w := getConnection(s, key, "c")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/connections/c: %d %s", w.Code, w.Body)
	}
	var st wire.Connection
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "c" || st.Status != "authorized" || st.Metadata["realmId"] != qbMetadata["realmId"] || st.APIBaseURL != qbBase {
		t.Errorf("got %+v, want c authorized with realmId %s and api_base_url %s", st, qbMetadata["realmId"], qbBase)
	}
	if strings.Contains(w.Body.String(), `"at"`) || strings.Contains(w.Body.String(), "access_token") || strings.Contains(w.Body.String(), `"rt"`) {
		t.Errorf("invariant «no token in the connection's status»: %s", w.Body)
	}
}

// TestConnectionRouteRefusesWhatTheKeyMayNotUse: a connection the key's patterns do not match
// gets 403 forbidden whether it exists or not, as on the token route and the proxy (the
// patterns are checked before any lookup, so the answer reveals nothing about it); one the
// key may use but that does not exist gets 404; the list's element and the route's answer
// are the same object.
func TestConnectionRouteRefusesWhatTheKeyMayNotUse(t *testing.T) {
	s, key := hotServerWith(t, qbMetadata, qbBase)
	s.keys.ks.(*flakyKeys).rec.SetGrants([]store.KeyGrant{{Pattern: "c", Allow: []string{"token"}}, {Pattern: "gone", Allow: []string{"proxy"}}})
	answer := func(name string) (int, string) {
		w := getConnection(s, key, name)
		var e wire.Error
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		return w.Code, e.Error
	}
	if code, e := answer("gone"); code != http.StatusNotFound || e != "not_found" {
		t.Errorf("a missing connection the key may use: %d %s, want 404 not_found", code, e)
	}
	for _, name := range []string{"other", "c-exists-not"} {
		if code, e := answer(name); code != http.StatusForbidden || e != "forbidden" {
			t.Errorf("invariant «a connection the key may not use is refused before any lookup»: %s: %d %s", name, code, e)
		}
	}
	one := getConnection(s, key, "c")
	list := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/connections", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	s.ServeHTTP(list, r)
	var l struct{ Connections []json.RawMessage }
	if err := json.Unmarshal(list.Body.Bytes(), &l); err != nil || len(l.Connections) != 1 {
		t.Fatalf("list: %s", list.Body)
	}
	if got, want := strings.TrimSpace(one.Body.String()), string(l.Connections[0]); got != want {
		t.Errorf("the route's answer %s differs from the list's element %s", got, want)
	}
}
