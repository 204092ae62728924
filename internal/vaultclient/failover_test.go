package vaultclient

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// node is an httptest Vault node: it counts requests and answers with answer.
type node struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newNode(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *node {
	n := &node{}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.hits.Add(1)
		answer(w, r)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"data":{}}`)) }

func sealed(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"errors":["Vault is sealed"]}`))
}

func internalError(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"errors":["internal error"]}`))
}

// reset reads the request (as if it were processed) and drops the connection.
func reset(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	c, _, _ := w.(http.Hijacker).Hijack()
	c.Close()
}

// refused is an address where nothing listens.
func refused(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

func send(t *testing.T, addrs []string, method, path, body string) (*http.Response, error) {
	t.Helper()
	f, err := newFailover(http.DefaultTransport, addrs, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, addrs[0]+path, strings.NewReader(body))
	resp, err := f.RoundTrip(req)
	if resp != nil {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// TestFailoverMovesOnWhenANodeDidNotProcess: a refused connection, a sealed node and a
// standby without an active node are skipped for any request, a login included.
func TestFailoverMovesOnWhenANodeDidNotProcess(t *testing.T) {
	good := newNode(t, ok)
	sealedNode := newNode(t, sealed)
	for name, first := range map[string]string{"refused": refused(t), "sealed": sealedNode.srv.URL} {
		resp, err := send(t, []string{first, good.srv.URL}, http.MethodPut, "/v1/auth/jwt/login", `{"role":"r","jwt":"x"}`)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s first: %v %v", name, resp, err)
		}
	}
	if good.hits.Load() != 2 || sealedNode.hits.Load() != 1 {
		t.Errorf("hits: good %d, sealed %d", good.hits.Load(), sealedNode.hits.Load())
	}
}

// TestFailoverRepeatsOnlyWhatIsSafeToRepeat: after a reset or a 500 (the node may have
// applied the request), a check-and-set write and a read go to the next node, a plain write
// and a login do not.
func TestFailoverRepeatsOnlyWhatIsSafeToRepeat(t *testing.T) {
	for _, bad := range []func(http.ResponseWriter, *http.Request){reset, internalError} {
		cases := []struct {
			method, path, body string
			repeat             bool
		}{
			{http.MethodPut, "/v1/secret/data/tailor/connections/x/tokens", `{"data":{},"options":{"cas":3}}`, true},
			{http.MethodGet, "/v1/secret/data/tailor/connections/x/tokens", "", true},
			{http.MethodPut, "/v1/secret/data/tailor/x", `{"data":{}}`, false},
			{http.MethodPut, "/v1/auth/approle/login", `{"role_id":"r"}`, false},
		}
		for _, c := range cases {
			first, good := newNode(t, bad), newNode(t, ok)
			resp, err := send(t, []string{first.srv.URL, good.srv.URL}, c.method, c.path, c.body)
			repeated := good.hits.Load() == 1
			if repeated != c.repeat {
				t.Errorf("%s %s %s: sent to the next node %v, want %v (%v %v)", c.method, c.path, c.body, repeated, c.repeat, resp, err)
			}
			if !c.repeat && err == nil && resp.StatusCode < 500 {
				t.Errorf("%s %s: a failure that was not repeated must reach the caller, got %v", c.method, c.path, resp.Status)
			}
		}
	}
}

// TestFailoverGivesUpAfterItsBudget: when no node answers, the request fails within the
// budget with the last error, after trying every node.
func TestFailoverGivesUpAfterItsBudget(t *testing.T) {
	a, b := newNode(t, sealed), newNode(t, sealed)
	start := time.Now()
	resp, err := send(t, []string{a.srv.URL, b.srv.URL}, http.MethodGet, "/v1/sys/health", "")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(readAll(resp), "Vault is sealed") {
		t.Fatalf("want the last node's 503 with its body, got %v %v", resp, err)
	}
	if a.hits.Load() < 2 || b.hits.Load() < 2 {
		t.Errorf("nodes tried %d and %d times, want rounds over both", a.hits.Load(), b.hits.Load())
	}
	t.Logf("gave up after %s (budget 2 s)", time.Since(start).Round(time.Millisecond))
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestInvalidAddressesAreRefused(t *testing.T) {
	if _, err := newFailover(http.DefaultTransport, []string{"http://a:1", "vault.example.com"}, time.Second, slog.Default()); err == nil || !strings.Contains(err.Error(), "vault.example.com") {
		t.Fatalf("%v", err)
	}
}

// TestFailoverTreatsAnUnloadedMountAsUnavailable: a new active node answers "no handler for
// route" (404) until its mounts are loaded; that is not "secret not found": the request goes
// to the next node, and when none can serve it the answer is a 503.
func TestFailoverTreatsAnUnloadedMountAsUnavailable(t *testing.T) {
	noHandler := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":["no handler for route \"secret/data/tailor/x\". route entry not found."]}`))
	}
	notFound := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[]}`))
	}
	loading, good := newNode(t, noHandler), newNode(t, ok)
	if resp, err := send(t, []string{loading.srv.URL, good.srv.URL}, http.MethodPut, "/v1/secret/data/tailor/x", `{"data":{}}`); err != nil || resp.StatusCode != 200 {
		t.Errorf("unloaded mount, then a good node: %v %v", resp, err)
	}
	if resp, err := send(t, []string{newNode(t, noHandler).srv.URL, newNode(t, noHandler).srv.URL}, http.MethodGet, "/v1/secret/data/tailor/x", ""); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no node loaded: want 503, got %v %v", resp, err)
	}
	missing, other := newNode(t, notFound), newNode(t, ok)
	if resp, err := send(t, []string{missing.srv.URL, other.srv.URL}, http.MethodGet, "/v1/secret/data/tailor/x", ""); err != nil || resp.StatusCode != http.StatusNotFound || other.hits.Load() != 0 {
		t.Errorf("a secret that does not exist: want its 404 from the first node, got %v %v (next node hit %d times)", resp, err, other.hits.Load())
	}
}

// TestFailoverFollowsAStandbysRedirect: a standby that cannot forward answers 307 with the
// active node's address; the request goes there, and later requests start there.
func TestFailoverFollowsAStandbysRedirect(t *testing.T) {
	active := newNode(t, ok)
	standby := newNode(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, active.srv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	f, err := newFailover(http.DefaultTransport, []string{standby.srv.URL, active.srv.URL}, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, standby.srv.URL+"/v1/secret/data/x", nil)
		resp, err := f.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	}
	if standby.hits.Load() != 1 || active.hits.Load() != 2 {
		t.Errorf("standby hit %d times, active %d: want the redirect followed once and remembered", standby.hits.Load(), active.hits.Load())
	}
}
