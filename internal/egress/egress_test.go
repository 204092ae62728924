package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// counter is a server that counts the requests it receives.
func counter(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func post(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("client_secret=S3CRET&refresh_token=RT"))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestRedirectsAreNeverFollowed(t *testing.T) {
	target, hits := counter(t)
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, body := range []string{"", `{"error":"invalid_client"}`} {
			t.Run(fmt.Sprintf("%d_%q", status, body), func(t *testing.T) {
				src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Location", target.URL+"/capture?code=C0DE")
					w.WriteHeader(status)
					_, _ = io.WriteString(w, body)
				}))
				defer src.Close()
				// Both origins allowed: only the redirect rule can stop the request.
				ctx := AllowOrigins(context.Background(), src.URL, target.URL)
				_, err := post(ctx, Client(5*time.Second), src.URL+"/token?x=1")
				var re *RedirectError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *RedirectError", err)
				}
				host := strings.TrimPrefix(target.URL, "http://")
				if re.Status != status || re.LocationHost != host {
					t.Errorf("RedirectError = %+v, want status %d and host %s", re, status, host)
				}
				if msg := re.Error(); !strings.Contains(msg, host) || strings.Contains(msg, "C0DE") || strings.Contains(msg, "x=1") {
					t.Errorf("message %q should name the Location's host and carry no query", msg)
				}
				if n := hits.Load(); n != 0 {
					t.Fatalf("the redirect target received %d requests, want 0", n)
				}
			})
		}
	}
}

func TestInternalDestinationsAreRefusedUnlessAllowed(t *testing.T) {
	srv, hits := counter(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	c := Client(3 * time.Second)
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1", "0.0.0.0"} {
		t.Run(host, func(t *testing.T) {
			_, err := post(context.Background(), c, "http://"+host+":"+port+"/token")
			var be *BlockedError
			var dnsErr *net.DNSError
			switch {
			case errors.As(err, &be):
				if !strings.Contains(err.Error(), "typed") || be.Reason == "" {
					t.Errorf("message %q should say how to allow it", err)
				}
			case errors.As(err, &dnsErr): // the resolver does not read this form as an address: not reached either
			default:
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the loopback server received %d requests, want 0", n)
			}
		})
	}
	// Addresses that are not listened on: the refusal must come from the guard, not from a
	// failed connection.
	for _, addr := range []string{"10.1.2.3:80", "169.254.169.254:80", "192.168.1.1:443", "172.16.0.1:8443", "[fe80::1]:80", "[fc00::1]:443", "[::1]:80", "[::]:80", "100.64.0.1:80"} {
		t.Run(addr, func(t *testing.T) {
			_, err := post(context.Background(), c, "http://"+addr+"/latest/meta-data")
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
			if be.Host != addr {
				t.Errorf("BlockedError.Host = %q, want %q", be.Host, addr)
			}
		})
	}
}

func TestAnAllowedOriginReachesLoopbackAndNothingElse(t *testing.T) {
	srv, hits := counter(t)
	other, otherHits := counter(t)
	c := Client(3 * time.Second)
	ctx := AllowOrigins(context.Background(), srv.URL+"/some/path")
	if _, err := post(ctx, c, srv.URL+"/token"); err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	if hits.Load() != 1 {
		t.Fatalf("the allowed server received %d requests, want 1", hits.Load())
	}
	// The same loopback host on another port is another origin.
	if _, err := post(ctx, c, other.URL+"/token"); !errors.As(err, new(*BlockedError)) {
		t.Fatalf("another port of the allowed host: err = %v, want a *BlockedError", err)
	}
	// The same port under another name (localhost for 127.0.0.1) is another origin too.
	u, _ := url.Parse(srv.URL)
	if _, err := post(ctx, c, "http://localhost:"+u.Port()+"/token"); err == nil {
		t.Fatal("localhost for an allowed 127.0.0.1 origin was reached")
	}
	// https is another scheme, another origin: the guard refuses before any TLS.
	if _, err := post(ctx, c, "https://"+u.Host+"/token"); !errors.As(err, new(*BlockedError)) {
		t.Fatalf("https on the allowed http origin: err = %v, want a *BlockedError", err)
	}
	if otherHits.Load() != 0 || hits.Load() != 1 {
		t.Fatalf("requests: allowed %d (want 1), other %d (want 0)", hits.Load(), otherHits.Load())
	}
	// A context without the allowance does not reuse the allowed request's pooled connection.
	if _, err := post(context.Background(), c, srv.URL+"/token"); !errors.As(err, new(*BlockedError)) {
		t.Fatalf("without the allowance: err = %v, want a *BlockedError", err)
	}
}

func TestAllowOriginsAccumulates(t *testing.T) {
	ctx := AllowOrigins(context.Background(), "http://127.0.0.1:1/a", "", "not a url")
	ctx = AllowOrigins(ctx, "HTTP://LOCALHOST:2/b")
	for raw, want := range map[string]bool{
		"http://127.0.0.1:1/x": true, "http://localhost:2": true, "http://127.0.0.1:2": false,
		"https://127.0.0.1:1": false, "http://127.0.0.1": false,
	} {
		u, _ := url.Parse(raw)
		if got := Allowed(ctx, u); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", raw, got, want)
		}
	}
}
