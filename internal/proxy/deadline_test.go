package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
)

// slowStream writes n lines, one every gap, flushing each; it stops early once the call is
// gone.
func slowStream(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
			_ = http.NewResponseController(w).Flush()
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// serveWithTimeouts serves p like bed.serve, on a server whose read and write timeouts are d
// (tokend serve's --read-timeout and --write-timeout).
func (b *bed) serveWithTimeouts(p *Proxy, d time.Duration) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/connections/{name}/proxy/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p.Serve(w, r, r.PathValue("name"), audit.Caller{Kind: audit.CallerAPIKey, ID: "k1"})
	})
	s := httptest.NewUnstartedServer(mux)
	s.Config.ReadTimeout, s.Config.WriteTimeout = d, d
	s.Start()
	b.t.Cleanup(s.Close)
	return s
}

// readLines gets path from server s and returns the body it read and the read's error.
func readLines(t *testing.T, s *httptest.Server, path string) (string, error) {
	t.Helper()
	resp, err := http.Get(s.URL + "/v1/connections/conn/proxy" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// TestStreamOutlivesTheServersTimeouts: a proxied answer that streams for longer than the
// server's read and write timeouts arrives whole: they bound token requests, not proxy calls.
func TestStreamOutlivesTheServersTimeouts(t *testing.T) {
	b := newBed(t, slowStream(6, 100*time.Millisecond), "")
	s := b.serveWithTimeouts(b.newProxy(), 200*time.Millisecond)
	body, err := readLines(t, s, "/events")
	if err != nil || strings.Count(body, "line ") != 6 {
		t.Fatalf("invariant «a stream outlives --write-timeout»: read %q, %v", body, err)
	}
}

// TestMaxDurationBoundsAStream: Options.MaxDuration (1 s) cuts a call that streams for
// longer (100 lines, one every 100 ms: 10 s), after its first line arrived.
func TestMaxDurationBoundsAStream(t *testing.T) {
	b := newBed(t, slowStream(100, 100*time.Millisecond), "")
	p := New(Options{Tokens: b.tokens, Connections: fakeConns{"conn": {Connection: *b.conn, Version: 1}},
		OAuth: &oauth.Client{}, Backoffs: b.backoffs, Recorder: b.rec, MaxDuration: time.Second})
	s := b.serveWithTimeouts(p, time.Minute)
	body, err := readLines(t, s, "/events")
	if n := strings.Count(body, "line "); err == nil || n == 0 || n >= 100 {
		t.Fatalf("invariant «MaxDuration bounds a call»: read %d of 100 lines, error %v", n, err)
	}
}
