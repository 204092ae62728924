package tailortest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TokenProxy is a reverse proxy in front of Hydra's token endpoint that counts refresh
// requests and remembers a hash of every refresh token presented, so a test can prove that
// no refresh token was ever sent twice. It can also inject faults (SetFault) and records
// every refresh request (Answers).
//
// Requests are forwarded to Hydra with a context detached from the caller's: once a refresh
// request has reached the proxy, Hydra processes it even if the caller has gone (killed or
// timed out), as a real provider would. Its answer is then lost: that is the crash window.
type TokenProxy struct {
	URL string

	rp     *httputil.ReverseProxy
	target atomic.Pointer[url.URL]

	mu        sync.Mutex
	refreshes int
	statuses  map[int]int
	seen      map[string]int
	fault     Fault
	delay     time.Duration
	hold      chan struct{} // when set, refresh answers wait until it is closed
	windows   [][2]time.Time
	answers   []Answer
	onAnswer  func()
	onRefresh func(Answer)
	grants    map[string]map[int]int
}

// Fault is a failure mode of the token endpoint injected by the proxy for refresh requests.
type Fault int

const (
	// FaultNone forwards every request to Hydra.
	FaultNone Fault = iota
	// Fault5xx answers 503 temporarily_unavailable without reaching Hydra.
	Fault5xx
	// FaultDelay waits SetFault's delay before forwarding; a caller that gives up meanwhile
	// is not forwarded (a provider slow to accept requests, not one that answers late).
	FaultDelay
	// FaultReset closes the connection without an answer (as a crashed or refusing
	// endpoint would), without reaching Hydra.
	FaultReset
)

// Answer is one refresh request as the proxy saw it. Tokens appear only as hashes.
type Answer struct {
	Start, End time.Time
	// Status is the HTTP status sent back (0: connection closed, or the caller left
	// before the request was forwarded).
	Status int
	// Reached is true when Hydra answered the request (Status may still be an error).
	Reached bool
	// Presented is TokenHash of the refresh token presented, Returned that of the new
	// refresh token in a 200 answer.
	Presented, Returned string
	// Error is the OAuth error code of an answer Hydra gave with an error ("invalid_grant").
	Error string
}

// TokenHash is the short hash by which the proxy remembers tokens.
func TokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}

const proxyErrorHeader = "X-Brokertest-Proxy-Error"

// NewTokenProxy starts a proxy to target (Hydra's token endpoint; set later with SetTarget
// when empty) that stops in t.Cleanup.
func NewTokenProxy(t testing.TB, target string) *TokenProxy {
	p := &TokenProxy{statuses: map[int]int{}, seen: map[string]int{}, grants: map[string]map[int]int{}}
	if target != "" {
		if err := p.SetTarget(target); err != nil {
			t.Fatal(err)
		}
	}
	p.rp = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		tu := p.target.Load()
		r.Out.URL.Scheme, r.Out.URL.Host, r.Out.URL.Path = tu.Scheme, tu.Host, tu.Path
		r.Out.Host = tu.Host
	}, ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.Header().Set(proxyErrorHeader, "1")
		w.WriteHeader(http.StatusBadGateway)
	}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/oauth2/token"
	return p
}

// serve handles one token request: it injects the current fault into refreshes, forwards
// the request to Hydra, and records the answer.
func (p *TokenProxy) serve(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	refresh := form.Get("grant_type") == "refresh_token"
	p.mu.Lock()
	fault, delay, hold := p.fault, p.delay, p.hold
	if refresh {
		p.refreshes++
	}
	p.mu.Unlock()
	if !refresh {
		fault = FaultNone
	}
	a := Answer{Start: began, Presented: TokenHash(form.Get("refresh_token"))}
	if p.injectFault(w, r, fault, delay, a) {
		return
	}
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	reached := rec.Header().Get(proxyErrorHeader) == ""
	rec.Header().Del(proxyErrorHeader)
	if reached {
		p.mu.Lock()
		g := form.Get("grant_type")
		if p.grants[g] == nil {
			p.grants[g] = map[int]int{}
		}
		p.grants[g][rec.Code]++
		p.mu.Unlock()
	}
	if refresh {
		p.recordRefresh(a, rec, reached, hold)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// injectFault answers a refresh with fault instead of Hydra (and reports true), or delays
// it before it is forwarded (false).
func (p *TokenProxy) injectFault(w http.ResponseWriter, r *http.Request, fault Fault, delay time.Duration, a Answer) bool {
	switch fault {
	case Fault5xx:
		a.Status = http.StatusServiceUnavailable
		p.finish(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable"}`))
		return true
	case FaultReset:
		p.finish(a)
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case FaultDelay:
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			p.finish(a) // the caller gave up: nothing reaches Hydra
			return true
		}
	}
	return false
}

// recordRefresh records Hydra's answer rec to a refresh, tells the OnRefresh hook, and
// holds the answer while hold is not closed.
func (p *TokenProxy) recordRefresh(a Answer, rec *httptest.ResponseRecorder, reached bool, hold chan struct{}) {
	a.Status, a.Reached = rec.Code, reached
	if reached && rec.Code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		a.Error = e.Error
	}
	if reached && rec.Code == http.StatusOK {
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &out) == nil && out.RefreshToken != "" {
			a.Returned = TokenHash(out.RefreshToken)
		}
	}
	if reached && rec.Code != http.StatusUnauthorized && rec.Code < 500 {
		// A use of the refresh token: it reached Hydra and the client authenticated (a 401
		// is refused before Hydra looks at the grant). A 5xx (Hydra's SQLite failing under
		// load) did not use it: sending it again is right, and Hydra's reuse detection would
		// revoke the chain otherwise, which the tests check separately.
		p.mu.Lock()
		p.seen[a.Presented]++
		p.mu.Unlock()
	}
	p.record(rec.Code)
	p.mu.Lock()
	f := p.onRefresh
	p.mu.Unlock()
	if f != nil {
		a.End = time.Now()
		f(a)
	}
	if hold != nil {
		<-hold
	}
	a.End = time.Now()
	p.mu.Lock()
	p.windows = append(p.windows, [2]time.Time{a.Start, a.End})
	p.answers = append(p.answers, a)
	p.mu.Unlock()
}

// SetTarget sets the token endpoint the proxy forwards to.
func (p *TokenProxy) SetTarget(target string) error {
	tu, err := url.Parse(target)
	if err != nil {
		return err
	}
	p.target.Store(tu)
	return nil
}

// Requests returns the answers to requests of grant (grant_type, e.g. client_credentials)
// that reached Hydra, by HTTP status.
func (p *TokenProxy) Requests(grant string) map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.grants[grant])
}

// finish records a refresh request that did not reach Hydra.
func (p *TokenProxy) finish(a Answer) {
	a.End = time.Now()
	if a.Status != 0 {
		p.record(a.Status)
	}
	p.mu.Lock()
	p.answers = append(p.answers, a)
	p.mu.Unlock()
}

func (p *TokenProxy) record(code int) {
	p.mu.Lock()
	p.statuses[code]++
	f := p.onAnswer
	p.mu.Unlock()
	if f != nil {
		f()
	}
}

// Refreshes returns how many refresh requests reached the proxy.
func (p *TokenProxy) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// Statuses returns the HTTP status counts of refresh answers.
func (p *TokenProxy) Statuses() map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]int{}
	for k, v := range p.statuses {
		out[k] = v
	}
	return out
}

// Windows returns the start and end time of every forwarded refresh request.
func (p *TokenProxy) Windows() [][2]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][2]time.Time(nil), p.windows...)
}

// Answers returns every refresh request the proxy has finished, in order of completion.
func (p *TokenProxy) Answers() []Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Answer(nil), p.answers...)
}

// Presentations returns how often each refresh token (by TokenHash) reached Hydra.
func (p *TokenProxy) Presentations() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.seen))
	for k, v := range p.seen {
		out[k] = v
	}
	return out
}

// ReusedAfterRotation returns how many refresh tokens were presented again after (or while)
// Hydra rotated them (answered 200). A presentation that Hydra refused, which rotated
// nothing, and its retry are not counted: that retry is right.
func (p *TokenProxy) ReusedAfterRotation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ok := range p.answers {
		if ok.Status != http.StatusOK || !ok.Reached {
			continue
		}
		for _, a := range p.answers {
			if a.Presented == ok.Presented && a != ok && a.Reached && a.End.After(ok.Start) {
				n++
				break
			}
		}
	}
	return n
}

// Reused returns how many refresh tokens were presented more than once.
func (p *TokenProxy) Reused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// SetDown makes refresh requests fail with 503 (without reaching Hydra) while down.
func (p *TokenProxy) SetDown(down bool) {
	if down {
		p.SetFault(Fault5xx, 0)
	} else {
		p.SetFault(FaultNone, 0)
	}
}

// SetFault injects f into refresh requests from now on (delay is for FaultDelay).
func (p *TokenProxy) SetFault(f Fault, delay time.Duration) {
	p.mu.Lock()
	p.fault, p.delay = f, delay
	p.mu.Unlock()
}

// Hold makes refresh answers wait (after Hydra has answered) until release is called.
func (p *TokenProxy) Hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(ch)
		})
	}
}

// OnAnswer sets a function called after each refresh answer from Hydra (or a 503).
func (p *TokenProxy) OnAnswer(f func()) {
	p.mu.Lock()
	p.onAnswer = f
	p.mu.Unlock()
}

// OnRefresh sets a function called synchronously after Hydra answered a refresh request
// and before the answer is sent on: the answer waits until it returns (a test can kill the
// caller or stop Vault there, inside the crash window).
func (p *TokenProxy) OnRefresh(f func(Answer)) {
	p.mu.Lock()
	p.onRefresh = f
	p.mu.Unlock()
}

// SetHydraClientSecret changes the Hydra client's secret (JSON Patch on the admin API), as
// an operator rotating it at the provider would.
func (e *Env) SetHydraClientSecret(t testing.TB, secret string) {
	t.Helper()
	patch := []map[string]any{{"op": "replace", "path": "/client_secret", "value": secret}}
	b, _ := json.Marshal(patch)
	req, _ := http.NewRequest(http.MethodPatch, e.Hydra.AdminURL+"/admin/clients/"+url.PathEscape(e.ClientID), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("patching the Hydra client secret: %d %s", resp.StatusCode, body)
	}
	e.ClientSecret = secret
}
