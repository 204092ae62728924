package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/netutil"

	"github.com/authconnection/terraform-provider-tailor/internal/ratelimit"
)

// startLimited serves h as tokend serve does (its http.Server and connection cap) with the
// read timeout rt, on a loopback port, and returns its address.
func startLimited(t *testing.T, rt time.Duration, maxConns int, h http.Handler) string {
	t.Helper()
	f := serveFlags{readTimeout: rt, requestTimeout: time.Second, maxConnections: maxConns, rateLimit: 1, rateBurst: 1}
	if err := f.checkLimits(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := f.httpServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() { _ = hs.Serve(netutil.LimitListener(ln, f.maxConnections)) }()
	t.Cleanup(func() { _ = hs.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// formHandler reads a form body as POST /ui/login and POST /v1/connect do.
var formHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	_ = r.ParseForm()
	w.WriteHeader(http.StatusNoContent)
})

// closedByServer reports whether the server has closed c (EOF or reset, after any answer).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := io.ReadAll(c)
	return err == nil || !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestAttackF5_SlowBodiesAreCutWithinTheReadTimeout: 50 clients that send a body byte every
// 200 ms (a body of 4000 bytes announced) are all disconnected once the read timeout (1 s
// here, 30 s by default) has passed; before the fix they were held for as long as they
// kept sending. Counted: connections the server closed after 4 read timeouts.
func TestAttackF5_SlowBodiesAreCutWithinTheReadTimeout(t *testing.T) {
	addr := startLimited(t, time.Second, 4096, formHandler)
	const n = 50
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\nkey=")
		conns = append(conns, c)
	}
	for range 20 { // 4 s: 4 read timeouts
		time.Sleep(200 * time.Millisecond)
		for _, c := range conns {
			_, _ = c.Write([]byte("a"))
		}
	}
	closed := 0
	for _, c := range conns {
		if closedByServer(c) {
			closed++
		}
	}
	if closed != n {
		t.Errorf("invariant «a slow body is cut within the read timeout»: %d of %d slow connections closed after 4 read timeouts", closed, n)
	}
}

// TestAttackF5_LargeHeaderGets431: a 900 KB header (under net/http's default 1 MB limit,
// accepted before the fix) is refused with 431; a normal request still works.
func TestAttackF5_LargeHeaderGets431(t *testing.T) {
	addr := startLimited(t, time.Second, 4096, formHandler)
	status := func(extra string) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\n", extra)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("X-Big: " + strings.Repeat("a", 900_000) + "\r\n"); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("invariant «a header over 64 KiB is refused»: a 900 KB header got %d, want 431", got)
	}
	if got := status("X-Small: " + strings.Repeat("a", 4000) + "\r\n"); got != http.StatusNoContent {
		t.Errorf("a 4 KB header got %d", got)
	}
}

// TestAttackF5_ConnectionsAreCapped: with --max-connections 10, 30 idle connections get 10
// served at once (the first 10 dialled: the kernel queues them for accept in order); the
// others wait to be accepted until one of those closes, and then one of them is served.
func TestAttackF5_ConnectionsAreCapped(t *testing.T) {
	addr := startLimited(t, time.Second, 10, formHandler)
	var conns []net.Conn
	for range 30 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for i, c := range conns[:10] {
		if !answered(c, 5*time.Second) {
			t.Fatalf("connection %d of the first 10 was not served", i)
		}
	}
	// The ones past the cap must not be answered; a short wait each is enough, as the
	// check after it shows that their requests are live and answered once a slot frees.
	for i, c := range conns[10:] {
		if answered(c, 100*time.Millisecond) {
			t.Errorf("invariant «at most --max-connections are served at once»: connection %d past the cap was answered", 10+i)
		}
	}
	conns[0].Close()
	if !answered(conns[10], 5*time.Second) {
		t.Errorf("the first waiting connection was not served once a served one closed")
	}
}

// answered reports whether an HTTP response arrives on c within wait.
func answered(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// TestLimitPreAuthChargesThePreAuthenticationRoutesOnly: POST /v1/connect, /v1/callback,
// /v1/callback/{name} and POST /ui/login are charged (the second request of a client with a
// bucket of 1 gets 429); the token endpoint, the landing page and GET /ui/login are not.
func TestLimitPreAuthChargesThePreAuthenticationRoutesOnly(t *testing.T) {
	for _, c := range []struct {
		method, path string
		charged      bool
	}{
		{"POST", "/v1/connect", true}, {"GET", "/v1/callback", true}, {"GET", "/v1/callback/google", true}, {"POST", "/ui/login", true},
		{"GET", "/v1/connections/c/token", false}, {"GET", "/connect", false}, {"GET", "/ui/login", false}, {"GET", "/healthz", false},
	} {
		lim, _ := ratelimit.New(ratelimit.Options{Rate: 0.001, Burst: 1})
		h := limitPreAuth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }), lim)
		var last int
		for range 2 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
			last = w.Code
		}
		if got := last == http.StatusTooManyRequests; got != c.charged {
			t.Errorf("%s %s: second request %d, charged %v, want %v", c.method, c.path, last, got, c.charged)
		}
	}
}
