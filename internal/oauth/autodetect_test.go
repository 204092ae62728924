package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// TestAutoDetectPresentsTheGrantOnce: with an unknown client authentication style,
// x/oauth2 retries with the other style after any failure. The token call lets the retry
// out only after a client authentication failure, so a refused grant or a 5xx is reported
// as such and the grant reaches the provider once.
func TestAutoDetectPresentsTheGrantOnce(t *testing.T) {
	var mu sync.Mutex
	var basic, post int
	var reply func(isBasic bool, w http.ResponseWriter)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, isBasic := r.BasicAuth()
		mu.Lock()
		if isBasic {
			basic++
		} else {
			post++
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		reply(isBasic, w)
	}))
	defer srv.Close()
	p := &Provider{Endpoints: Endpoints{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleAutoDetect}, typed: []string{srv.URL}}
	creds := Credentials{ClientID: "cid", ClientSecret: "sec"}
	const old = "rt"
	c := &Client{}
	reset := func() { mu.Lock(); basic, post = 0, 0; mu.Unlock() }

	for _, tc := range []struct {
		name        string
		status      int
		body        string
		kind        ErrorKind
		basic, post int
	}{
		{"invalid_grant", 400, `{"error":"invalid_grant"}`, KindInvalidGrant, 1, 0},
		{"server error", 503, `{"error":"temporarily_unavailable"}`, KindTransient, 1, 0},
	} {
		reset()
		reply = func(_ bool, w http.ResponseWriter) { w.WriteHeader(tc.status); _, _ = w.Write([]byte(tc.body)) }
		_, err := c.Refresh(context.Background(), p, creds, old, nil)
		var oe *Error
		if !asError(err, &oe) || oe.Kind != tc.kind {
			t.Errorf("%s: %v, want kind %v", tc.name, err, tc.kind)
		}
		if basic != tc.basic || post != tc.post {
			t.Errorf("%s: %d basic and %d post requests, want %d and %d", tc.name, basic, post, tc.basic, tc.post)
		}
	}

	// A client registered for client_secret_post: basic fails client authentication, the
	// retry with post goes out and succeeds.
	reset()
	reply = func(isBasic bool, w http.ResponseWriter) {
		if isBasic {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"at2","refresh_token":"rt2","expires_in":60}`))
	}
	ts, err := c.Refresh(context.Background(), p, creds, old, nil)
	if err != nil || ts.RefreshToken != "rt2" || basic != 1 || post != 1 {
		t.Errorf("post client: %v, %d basic, %d post", err, basic, post)
	}
}
