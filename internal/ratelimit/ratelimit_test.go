package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func req(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/connect", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// TestBurstThenRefused: a client gets Burst requests at once, then 429 with Retry-After;
// another client is not affected.
func TestBurstThenRefused(t *testing.T) {
	l, err := New(Options{Rate: 0.5, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }), nil)
	codes := map[int]int{}
	for range 10 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req("192.0.2.1:5555"))
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("Retry-After = %q", w.Header().Get("Retry-After"))
			}
		}
	}
	if codes[204] != 3 || codes[429] != 7 {
		t.Fatalf("codes = %v, want 3 x 204 and 7 x 429", codes)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req("192.0.2.2:5555"))
	if w.Code != 204 {
		t.Fatalf("another client got %d", w.Code)
	}
	if l.Refused() != 7 {
		t.Fatalf("Refused = %d", l.Refused())
	}
}

// TestClientAddress: IPv6 clients share their /64; the header is read only when configured,
// and for X-Forwarded-For its last entry (the one the trusted proxy added) counts.
func TestClientAddress(t *testing.T) {
	plain, _ := New(Options{})
	viaProxy, _ := New(Options{ClientIPHeader: "x-forwarded-for"})
	cases := []struct {
		l    *Limiter
		r    *http.Request
		want string
	}{
		{plain, req("192.0.2.1:1"), "192.0.2.1/32"},
		{plain, req("[2001:db8:1:2:3:4:5:6]:1"), "2001:db8:1:2::/64"},
		{plain, req("[::ffff:192.0.2.7]:1"), "192.0.2.7/32"},
		{plain, req("192.0.2.1:1", "X-Forwarded-For", "198.51.100.9"), "192.0.2.1/32"},
		{viaProxy, req("10.0.0.1:1", "X-Forwarded-For", "203.0.113.5, 198.51.100.9"), "198.51.100.9/32"},
		{viaProxy, req("10.0.0.1:1", "X-Forwarded-For", "garbage"), "10.0.0.1/32"},
		{viaProxy, req("10.0.0.1:1"), "10.0.0.1/32"},
	}
	for _, c := range cases {
		if got := c.l.Client(c.r).String(); got != c.want {
			t.Errorf("Client(%s, %v) = %s, want %s", c.r.RemoteAddr, c.r.Header, got, c.want)
		}
	}
}

// TestBucketsAreBounded: more clients than Clients evict the oldest buckets one by one.
func TestBucketsAreBounded(t *testing.T) {
	l, _ := New(Options{Clients: 100, Burst: 1})
	for i := range 1000 {
		l.Allow(req("192.0.2." + strconv.Itoa(i%250) + ":1"))
	}
	if n := l.clients.Len(); n != 100 {
		t.Fatalf("buckets = %d, want 100", n)
	}
}

// TestRefusedRequestsAreHeld: with Delay, a refused request is answered after the delay
// (counted by a fake clock would be nicer; here: the refusal happens, and a cancelled
// request is let go at once).
func TestRefusedRequestsAreHeld(t *testing.T) {
	l, _ := New(Options{Rate: 0.001, Burst: 1, Delay: time.Hour})
	if ok, _ := l.Allow(req("192.0.2.1:1")); !ok {
		t.Fatal("first request refused")
	}
	r := req("192.0.2.1:1")
	ctx, cancel := context.WithCancel(r.Context())
	cancel()
	if ok, wait := l.Allow(r.WithContext(ctx)); ok || wait <= 0 {
		t.Fatalf("second request: %v %v", ok, wait)
	}
}
