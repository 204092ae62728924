package authorize

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// FuzzCallbackHandler runs the real flow (Run, with a Vault dev server and an httptest
// provider) once per input and sends one arbitrary request (method, request target, Host
// header, query) to its callback server instead of the provider's redirect. In the query,
// $S stands for the attempt's real state and $C for a real, unused authorization code the
// provider issued for it, so the fuzzer can reach the accepting path too.
//
// Properties: nothing panics (Run's loop or the handler, which net/http would recover and
// log); the attempt is accepted (tokens stored in Vault, Run returns a result, the page says
// "Authorization complete") only for GET or HEAD of exactly /callback with a loopback Host
// naming the callback port and the real state; and no answer (status line, headers, page)
// holds the real state or code, unless the request itself put them in another parameter
// that the page may echo (error_description).
func FuzzCallbackHandler(f *testing.F) {
	for _, s := range []struct {
		method, target, host, query string
	}{
		{"GET", "/callback", "localhost:$P", "state=$S&code=$C"},
		{"GET", "/callback", "127.0.0.1:$P", "code=$C&state=$S&iss=x"},
		{"HEAD", "/callback", "[::1]:$P", "state=$S&code=$C"},
		{"GET", "/callback", "localhost:$P", "code=$C"},
		{"GET", "/callback", "localhost:$P", "state=x$S&code=$C"},
		{"GET", "/callback", "localhost:$P", "state=&state=$S&code=$C"},
		{"GET", "/callback", "evil.example:$P", "state=$S&code=$C"},
		{"GET", "/callback", "localhost:1", "state=$S&code=$C"},
		{"POST", "/callback", "localhost:$P", "state=$S&code=$C"},
		{"GET", "/callback/", "localhost:$P", "state=$S&code=$C"},
		{"GET", "//callback", "localhost:$P", "state=$S&code=$C"},
		{"GET", "/./callback", "localhost:$P", "state=$S&code=$C"},
		{"GET", "/CALLBACK", "localhost:$P", "state=$S&code=$C"},
		{"GET", "/callback", "localhost:$P", ""},
		{"GET", "/callback", "localhost:$P", "state=$S&error=access_denied&error_description=no"},
		{"GET", "/callback", "localhost:$P", "state=$S&code=$C&realmId=1234"},
		{"GET", "/callback", "localhost:$P", "state=%zz&code=$C"},
		{"GET", "http://localhost:$P/callback", "localhost:$P", "state=$S&code=$C"},
	} {
		f.Add(s.method, s.target, s.host, s.query)
	}
	st := newStore(f)
	fp := newFakeProvider(f, "basic", "")
	createConn(f, st, fp.conn("fuzz-cb", "https://fuzz.example", ""), fp.secret)
	var serverLog syncBuffer // net/http logs recovered handler panics here
	prevLog := log.Writer()
	log.SetOutput(&serverLog)
	f.Cleanup(func() { log.SetOutput(prevLog) })
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	f.Fuzz(func(t *testing.T, method, target, host, query string) {
		if strings.ContainsAny(method+target+host+query, "\r\n") || method == "" {
			return // not one request on the wire
		}
		before, _ := st.GetTokens(context.Background(), "fuzz-cb")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		port, authURL, done := startFuzzRun(t, ctx, st)
		ps := strconv.Itoa(port)
		target, host = strings.ReplaceAll(target, "$P", ps), strings.ReplaceAll(host, "$P", ps)
		// The provider's redirect, not followed: the real state and a real code.
		resp, err := noRedirect.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		state, code := loc.Query().Get("state"), loc.Query().Get("code")
		if state == "" || code == "" {
			t.Fatalf("provider redirect %q", loc)
		}
		query = strings.NewReplacer("$S", state, "$C", code).Replace(query)
		reqTarget := target
		if query != "" {
			reqTarget += "?" + query
		}
		raw := method + " " + reqTarget + " HTTP/1.1\r\n"
		if host != "" {
			raw += "Host: " + host + "\r\n"
		}
		raw += "Connection: close\r\n\r\n"

		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+ps, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(conn) // status line, headers and page as sent
		conn.Close()
		cancel()
		r := <-done

		accepted := r.err == nil
		after, _ := st.GetTokens(context.Background(), "fuzz-cb")
		stored := after != nil && (before == nil || after.Version != before.Version)
		if accepted != stored {
			t.Fatalf("Run accepted=%v (err %v) but tokens stored=%v", accepted, r.err, stored)
		}
		var status int
		if rr, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), &http.Request{Method: method}); err == nil {
			status = rr.StatusCode
			rr.Body.Close()
		}
		if accepted {
			u, err := url.ParseRequestURI(reqTarget)
			if err != nil || (method != "GET" && method != "HEAD") || u.Path != CallbackPath || u.Query().Get("state") != state {
				t.Fatalf("accepted %s %q (Host %q) without the right state, method or path", method, reqTarget, host)
			}
			effective := host
			if u.Host != "" {
				effective = u.Host // absolute-form target: net/http takes the host from it (RFC 9112 3.2.2)
			}
			h, p, err := net.SplitHostPort(effective)
			if err != nil || p != ps || !authconn.IsLoopbackHost(h) {
				t.Fatalf("accepted a request for Host %q (target %q)", host, reqTarget)
			}
			if status != http.StatusOK {
				t.Fatalf("accepted, but the browser got %d", status)
			}
		} else if status == http.StatusOK || bytes.Contains(answer, []byte("Authorization complete")) {
			t.Fatalf("%s %q (Host %q): 200 / complete page without accepting: %v", method, reqTarget, host, r.err)
		}

		// No secret in the answer, unless the request echoed it through another parameter.
		echoed := func(secret string) bool {
			u, err := url.ParseRequestURI(reqTarget)
			if err != nil {
				return strings.Count(reqTarget, secret) > 0
			}
			for k, vs := range u.Query() {
				for i, v := range vs {
					if strings.Contains(v, secret) && !((k == "state" || k == "code") && i == 0) {
						return true
					}
					if strings.Contains(k, secret) {
						return true
					}
				}
			}
			return false
		}
		for what, secret := range map[string]string{"state": state, "code": code} {
			if bytes.Contains(answer, []byte(secret)) && !echoed(secret) {
				t.Fatalf("%s %q (Host %q): the answer holds the %s:\n%s", method, reqTarget, host, what, answer)
			}
			if esc := url.QueryEscape(secret); esc != secret && bytes.Contains(answer, []byte(esc)) && !echoed(secret) {
				t.Fatalf("%s %q: the answer holds the escaped %s", method, reqTarget, what)
			}
		}
		if s := serverLog.String(); strings.Contains(s, "panic") {
			t.Fatalf("the callback server recovered a panic:\n%s", s)
		}
	})
}

// fuzzRunResult is what Run returned in a fuzzed flow.
type fuzzRunResult struct {
	res *Result
	err error
}

// startFuzzRun starts Run for connection fuzz-cb on a free port and returns the port, the
// authorization URL it opened and where Run's result arrives. Another process may take the
// port freePort chose before Run listens on it: then it tries another port (a few times)
// instead of skipping the input.
func startFuzzRun(t *testing.T, ctx context.Context, st *store.Store) (int, string, chan fuzzRunResult) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		opened := make(chan string, 1)
		done := make(chan fuzzRunResult, 1)
		go func() {
			res, err := Run(ctx, st, Options{Name: "fuzz-cb", Port: port, Timeout: time.Minute, OAuth: &oauth.Client{},
				UI: &TextUI{Out: io.Discard, Err: io.Discard, Open: func(u string) error { opened <- u; return nil }}})
			done <- fuzzRunResult{res, err}
		}()
		select {
		case authURL := <-opened:
			return port, authURL, done
		case r := <-done:
			if errors.As(r.err, new(*PortInUseError)) && attempt < 5 {
				continue
			}
			t.Fatalf("Run ended before opening the browser (port %d, attempt %d): %v", port, attempt, r.err)
		}
	}
}
