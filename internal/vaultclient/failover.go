package vaultclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// failover is the HTTP transport of a client with several Vault addresses (the nodes of a
// cluster). It sends each request to the node that answered last; when that node cannot
// take it (connection refused, reset, a sealed node, a standby that knows no active node
// during an election, a 5xx) it tries the next, round after round with a jittered pause,
// until Budget has passed. A request that may have been applied is sent again only when
// applying it twice does no harm: reads, deletes, metadata patches, token renewals and
// writes with check-and-set (a repeated one fails its check instead of applying twice).
// Logins and plain writes are retried only when the node certainly did not process them
// (it refused the connection, or said it is sealed or not active).
type failover struct {
	base   http.RoundTripper
	addrs  []*url.URL
	budget time.Duration
	log    *slog.Logger

	mu  sync.Mutex
	cur int // the address that answered last
}

// newFailover returns the transport over base for addrs.
func newFailover(base http.RoundTripper, addrs []string, budget time.Duration, log *slog.Logger) (*failover, error) {
	f := &failover{base: base, budget: budget, log: log}
	for _, a := range addrs {
		u, err := url.Parse(strings.TrimSpace(a))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("invalid Vault address %q: use http(s)://host:port, several separated by commas", a)
		}
		f.addrs = append(f.addrs, u)
	}
	return f, nil
}

// RoundTrip sends req to the current node, failing over to the others as described above.
func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := replayable(req)
	if err != nil {
		return nil, err
	}
	idem := idempotent(req, body)
	deadline := time.Now().Add(f.budget)
	start := f.current()
	pause := 100 * time.Millisecond
	var redirect *url.URL
	redirects := 0
	for attempt := 0; ; attempt++ {
		i := (start + attempt) % len(f.addrs)
		target := f.addrs[i]
		if redirect != nil { // a standby that could not forward named the active node
			target, i, redirect = redirect, f.index(redirect), nil
		}
		r := f.retarget(req, target, body)
		resp, err := f.base.RoundTrip(r)
		if loc := f.location(resp); loc != nil && redirects < 2 {
			resp.Body.Close()
			redirect, redirects = loc, redirects+1
			attempt-- // not a failure: the same round goes on at the active node
			continue
		}
		redirects = 0
		resp, retry, why := classify(resp, err, idem)
		if !retry || time.Now().After(deadline) || req.Context().Err() != nil {
			if !retry && i >= 0 {
				f.setCurrent(i)
			} else if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusTemporaryRedirect) {
				resp = unavailable(resp) // not "not found" (vault/api reads both so): the cluster did not answer
			}
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		f.log.Debug("Vault node unavailable; trying the next one", "node", f.addrs[i].Host, "reason", why, "path", req.URL.Path)
		if (attempt+1)%len(f.addrs) == 0 { // a full round: pause before the next
			if err := sleep(req.Context(), pause/2+rand.N(pause)); err != nil {
				return nil, err
			}
			pause = min(pause*2, time.Second)
		}
	}
}

// location is the target of a 307 redirect, which a standby answers when it cannot forward
// a request to the active node (for a moment after an election), when it is one of the
// configured nodes; nil for other answers. A redirect elsewhere is not followed (the request
// carries the Vault token): the standby is then treated as one without a reachable active
// node, and the other configured nodes are tried.
func (f *failover) location(resp *http.Response) *url.URL {
	if resp == nil || resp.StatusCode != http.StatusTemporaryRedirect {
		return nil
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Host == "" {
		return nil
	}
	if i := f.index(u); i < 0 {
		from := ""
		if resp.Request != nil {
			from = resp.Request.URL.Host
		}
		f.log.Warn("a Vault node redirected to an address that is not configured; not followed (add it to the Vault addresses if it is a node of the cluster)",
			"node", from, "location_host", u.Host)
		return nil
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}
}

// index returns the index of the configured address with u's scheme and host, or -1.
func (f *failover) index(u *url.URL) int {
	for i, a := range f.addrs {
		if sameNode(a, u) {
			return i
		}
	}
	return -1
}

// sameNode reports whether a and b name the same scheme, host and port (default ports
// made explicit).
func sameNode(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if strings.EqualFold(u.Scheme, "https") {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// RedirectError is a Vault answer redirecting to an address that is not one of the
// configured nodes: it is not followed, since vault/api would send the Vault token there.
type RedirectError struct {
	Status   int
	From, To string // hosts
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("Vault at %s answered %d redirecting to %s, which is not one of the configured Vault addresses: the Vault token goes only to configured nodes; if %s is a node of the cluster, add it to the Vault addresses (separated by commas)",
		e.From, e.Status, e.To, e.To)
}

// redirectGuard stops a redirect (which vault/api follows once, with the Vault token) to an
// address that is not one of the configured nodes.
type redirectGuard struct {
	base  http.RoundTripper
	addrs []*url.URL
}

// newRedirectGuard returns the guard over base for the configured addresses addrs.
func newRedirectGuard(base http.RoundTripper, addrs []string) *redirectGuard {
	g := &redirectGuard{base: base}
	for _, a := range addrs {
		if u, err := url.Parse(strings.TrimSpace(a)); err == nil && u.Host != "" {
			g.addrs = append(g.addrs, u)
		}
	}
	return g
}

// RoundTrip passes req on and turns a redirect to an unconfigured address into a *RedirectError.
func (g *redirectGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil || resp.StatusCode/100 != 3 || resp.StatusCode == http.StatusNotModified {
		return resp, err
	}
	to := "no address"
	if loc, lerr := resp.Location(); lerr == nil && loc.Host != "" {
		for _, a := range g.addrs {
			if sameNode(a, loc) {
				return resp, nil
			}
		}
		to = loc.Scheme + "://" + loc.Host
	}
	resp.Body.Close()
	return nil, &RedirectError{Status: resp.StatusCode, From: req.URL.Host, To: to}
}

func (f *failover) current() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *failover) setCurrent(i int) {
	f.mu.Lock()
	f.cur = i
	f.mu.Unlock()
}

// retarget is req addressed to the node at u, with a fresh copy of body.
func (f *failover) retarget(req *http.Request, u *url.URL, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, ""
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return r
}

// replayable reads req's body so that it can be sent more than once.
func replayable(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// idempotent reports whether sending req twice does no more than sending it once.
func idempotent(req *http.Request, body []byte) bool {
	p := req.URL.Path
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "LIST", http.MethodDelete:
		return true
	case http.MethodPatch:
		return strings.Contains(p, "/metadata/")
	}
	if strings.HasSuffix(p, "/auth/token/renew-self") || strings.HasSuffix(p, "/auth/token/lookup-self") {
		return true
	}
	return bytes.Contains(body, []byte(`"cas":`)) // KV v2 check-and-set
}

// notProcessed are error messages with which a node says it did not process a request.
var notProcessed = []string{"Vault is sealed", "active cluster node not found", "node not active", "standby", "Vault is not initialized"}

// classify decides whether the answer (resp, err) to a request calls for another node, and
// why. It may replace resp with one whose body it has read.
func classify(resp *http.Response, err error, idem bool) (*http.Response, bool, string) {
	if err != nil {
		if isDialError(err) {
			return nil, true, "connection refused"
		}
		return nil, idem, err.Error()
	}
	if resp.StatusCode == http.StatusTemporaryRedirect {
		// A standby that cannot forward, pointing at an active node that does not answer
		// (it was just killed): the election is not over.
		return resp, true, "standby without a reachable active node"
	}
	if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusNotFound {
		return resp, false, ""
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if resp.StatusCode == http.StatusNotFound {
		// A node that has just become active answers "no handler for route" until its
		// mount table is loaded; vault/api would read that as "secret not found".
		return resp, bytes.Contains(head, []byte("no handler for route")), "mount not loaded yet"
	}
	for _, m := range notProcessed {
		if bytes.Contains(head, []byte(m)) {
			return resp, true, m
		}
	}
	return resp, idem && resp.StatusCode != http.StatusNotImplemented, resp.Status
}

// unavailable turns a node's "no handler for route" 404, or a standby's redirect, into a
// 503 that says so.
func unavailable(resp *http.Response) *http.Response {
	resp.Body.Close()
	body := `{"errors":["no Vault node could serve the request: an election is under way (standbys redirect to an unreachable active node, or the new active node has not loaded its mounts yet)"]}`
	return &http.Response{Status: "503 Service Unavailable", StatusCode: http.StatusServiceUnavailable, Proto: resp.Proto,
		ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: resp.Request}
}

// isDialError reports whether err happened before the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
